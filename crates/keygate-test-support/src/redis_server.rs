//! A real `redis-server` for a test: started on a free loopback port in a
//! directory of its own, stopped when dropped.
//!
//! It can be stopped and restarted on the same port, and paused
//! (`SIGSTOP`, a Redis that accepts connections and answers nothing) and
//! resumed, for fault tests. When `redis-server` is missing it is installed
//! once with `tests/support/install-redis.sh` (Debian's package).

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

/// A running `redis-server`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

impl RedisServer {
    /// Starts one on a free loopback port, persistence off.
    ///
    /// # Panics
    /// When `redis-server` cannot be installed or started: the test needs it.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts one with more `redis-server` arguments.
    ///
    /// # Panics
    /// When `redis-server` cannot be installed or started.
    pub fn start_with(args: &[&str]) -> Self {
        install_once();
        let dir = std::env::temp_dir().join(format!(
            "keygate-redis-{}-{}",
            std::process::id(),
            ulid_like()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory for redis-server");
        // A free port can be taken between the probe and the bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                child: None,
                port,
                dir: dir.clone(),
                args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            };
            if server.spawn().is_ok() {
                return server;
            }
        }
        panic!("redis-server did not start on a free loopback port");
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (connections drop at once).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self.signal(&child, "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    ///
    /// # Panics
    /// When it cannot start.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => {
                    panic!(
                        "redis-server did not restart on port {}: {error}",
                        self.port
                    )
                }
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Freezes it with `SIGSTOP`: connections stay open, nothing is answered.
    pub fn pause(&self) {
        if let Some(child) = &self.child {
            self.signal(child, "STOP").expect("kill -STOP redis-server");
        }
    }

    /// Thaws it with `SIGCONT`.
    pub fn resume(&self) {
        if let Some(child) = &self.child {
            self.signal(child, "CONT").expect("kill -CONT redis-server");
        }
    }

    fn signal(&self, child: &Child, signal: &str) -> io::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -{signal} failed")))
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("redis-server exited: {status}")));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(io::Error::other("redis-server did not listen within 5 s"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// A name unique within this machine's runs, without another dependency.
fn ulid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{nanos:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn install_once() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if found {
            return;
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/install-redis.sh"
        );
        let status = Command::new("bash")
            .arg(script)
            .status()
            .expect("run tests/support/install-redis.sh");
        assert!(status.success(), "installing redis-server failed");
    });
}

/// A Redis Cluster of primaries without replicas, each a [`RedisServer`],
/// with every slot assigned; stopped when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `primaries` nodes (at least 3, as `redis-cli --cluster create`
    /// requires) and joins them.
    ///
    /// # Panics
    /// When the cluster cannot be formed.
    pub fn start(primaries: usize) -> Self {
        let nodes: Vec<RedisServer> = (0..primaries.max(3))
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(
                nodes
                    .iter()
                    .map(|node| format!("127.0.0.1:{}", node.port())),
            )
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.is_ok() {
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// Every node's `redis://127.0.0.1:PORT/`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    fn is_ok(&self) -> bool {
        self.nodes.iter().all(|node| {
            Command::new("redis-cli")
                .args(["-p", &node.port().to_string(), "cluster", "info"])
                .output()
                .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
        })
    }
}
