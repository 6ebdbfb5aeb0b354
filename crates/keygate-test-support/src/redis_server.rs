//! A real `redis-server` for a test: started on a free loopback port in a
//! directory of its own, stopped when dropped.
//!
//! It can be stopped and restarted on the same port, and paused
//! (`SIGSTOP`, a Redis that accepts connections and answers nothing) and
//! resumed, for fault tests. When `redis-server` is missing it is installed
//! once with `tests/support/install-redis.sh` (Debian's package, built with
//! TLS).
//!
//! [`TlsRedisServer`] is one that speaks TLS only, with certificates made
//! for the test, optionally asking clients for a certificate and with an
//! ACL user.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use crate::certificates::TestCertificates;

/// A running `redis-server`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    /// Whether the port is `--tls-port` (and the plain port is off).
    tls: bool,
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
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        Self::start_in(scratch_dir(), args, false)
    }

    /// Starts one whose files live in `dir` (removed on drop), listening in
    /// plain TCP or, with `tls`, in TLS only.
    fn start_in(dir: PathBuf, args: Vec<String>, tls: bool) -> Self {
        install_once();
        // A free port can be taken between the probe and the bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                child: None,
                port,
                dir: dir.clone(),
                args: args.clone(),
                tls,
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
        // TLS only: the plain port off, the TLS port the one probed free.
        let port = self.port.to_string();
        let listen = if self.tls {
            vec!["--port", "0", "--tls-port", &port]
        } else {
            vec!["--port", &port]
        };
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1"])
            .args(listen)
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

/// A new scratch directory for one server.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "keygate-redis-{}-{}",
        std::process::id(),
        ulid_like()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory for redis-server");
    dir
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

/// Whether a [`TlsRedisServer`] asks clients for a certificate
/// (`--tls-auth-clients`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientCertificates {
    /// Not asked (`no`): any client that trusts the server's CA connects.
    #[default]
    NotAsked,
    /// Asked, and checked when one is given (`optional`).
    Optional,
    /// Required, signed by the test's CA (`yes`).
    Required,
}

/// Configures a [`TlsRedisServer`].
#[derive(Debug, Clone, Default)]
pub struct TlsRedisServerBuilder {
    client_certificates: ClientCertificates,
    acl_user: Option<(String, String)>,
}

impl TlsRedisServerBuilder {
    /// Whether clients must show a certificate (default: not asked).
    pub fn client_certificates(mut self, policy: ClientCertificates) -> Self {
        self.client_certificates = policy;
        self
    }

    /// An ACL user allowed everything with `password`; the `default` user
    /// is then off, so a client without these credentials is refused
    /// (`NOAUTH`).
    ///
    /// # Panics
    /// When the name or the password holds anything but ASCII letters,
    /// digits, `-`, `_` and `.`: they go into URLs unescaped.
    pub fn acl_user(mut self, user: &str, password: &str) -> Self {
        let url_safe = |text: &str| {
            !text.is_empty()
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
        };
        assert!(
            url_safe(user) && url_safe(password),
            "an ACL user and password of letters, digits, '-', '_' and '.' only"
        );
        self.acl_user = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Makes the certificates and starts the server on a free loopback port.
    ///
    /// # Panics
    /// When `redis-server` cannot be installed or started, or the
    /// certificates cannot be made.
    pub fn start(self) -> TlsRedisServer {
        let dir = scratch_dir();
        let certificates =
            TestCertificates::generate(&dir).expect("certificates for the TLS redis-server");
        TlsRedisServer {
            server: self.start_in(dir, &certificates, &[]),
            certificates,
            acl_user: self.acl_user,
        }
    }

    /// Starts one in `dir` with `certificates` and more arguments.
    fn start_in(
        &self,
        dir: PathBuf,
        certificates: &TestCertificates,
        more: &[&str],
    ) -> RedisServer {
        let auth_clients = match self.client_certificates {
            ClientCertificates::NotAsked => "no",
            ClientCertificates::Optional => "optional",
            ClientCertificates::Required => "yes",
        };
        let path = |path: &Path| path.display().to_string();
        let mut args = vec![
            "--tls-cert-file".to_owned(),
            path(&certificates.server_cert),
            "--tls-key-file".to_owned(),
            path(&certificates.server_key),
            "--tls-ca-cert-file".to_owned(),
            path(&certificates.ca),
            "--tls-auth-clients".to_owned(),
            auth_clients.to_owned(),
        ];
        if let Some((user, password)) = &self.acl_user {
            // Given at start, so a restart (empty) has the same users.
            args.extend(
                [
                    "--user",
                    user,
                    "on",
                    &format!(">{password}"),
                    "~*",
                    "&*",
                    "+@all",
                ]
                .map(str::to_owned),
            );
            args.extend(["--user", "default", "off"].map(str::to_owned));
        }
        args.extend(more.iter().map(|&arg| arg.to_owned()));
        RedisServer::start_in(dir, args, true)
    }
}

/// A `redis-server` that speaks TLS only (its plain port is off), with
/// certificates made for the test; stopped when dropped, its certificates
/// removed with its directory.
#[derive(Debug)]
pub struct TlsRedisServer {
    server: RedisServer,
    certificates: TestCertificates,
    acl_user: Option<(String, String)>,
}

impl TlsRedisServer {
    /// Starts one that does not ask clients for a certificate and has no
    /// ACL user.
    ///
    /// # Panics
    /// When it cannot start.
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// Configures one: client certificates, an ACL user.
    pub fn builder() -> TlsRedisServerBuilder {
        TlsRedisServerBuilder::default()
    }

    /// `rediss://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.server.port)
    }

    /// `rediss://USER:PASSWORD@127.0.0.1:PORT/`.
    ///
    /// # Panics
    /// When it has no ACL user.
    pub fn url_with_credentials(&self) -> String {
        let (user, password) = self.acl_user().expect("a server with an ACL user");
        format!("rediss://{user}:{password}@127.0.0.1:{}/", self.server.port)
    }

    /// `redis://127.0.0.1:PORT/`: its port with a plain URL, what a client
    /// that forgot TLS uses.
    pub fn plain_url(&self) -> String {
        self.server.url()
    }

    /// The port it listens on (TLS).
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// Its ACL user and password, when it has one.
    pub fn acl_user(&self) -> Option<(&str, &str)> {
        self.acl_user
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The certificates: the CA that signed its certificate, a client
    /// certificate and key signed by the same CA, and a foreign CA.
    pub fn certificates(&self) -> &TestCertificates {
        &self.certificates
    }

    /// The CA file that verifies its certificate.
    pub fn ca_file(&self) -> &Path {
        &self.certificates.ca
    }

    /// A client certificate it accepts.
    pub fn client_cert_file(&self) -> &Path {
        &self.certificates.client_cert
    }

    /// That client certificate's private key.
    pub fn client_key_file(&self) -> &Path {
        &self.certificates.client_key
    }

    /// Kills it (connections drop at once).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts it again on the same port, empty, with the same certificates
    /// and users.
    ///
    /// # Panics
    /// When it cannot start.
    pub fn restart(&mut self) {
        self.server.restart();
    }

    /// Freezes it with `SIGSTOP`.
    pub fn pause(&self) {
        self.server.pause();
    }

    /// Thaws it with `SIGCONT`.
    pub fn resume(&self) {
        self.server.resume();
    }
}

/// A Redis Cluster of TLS-only primaries without replicas (the cluster bus
/// in TLS too), sharing one CA and server certificate, with every slot
/// assigned; stopped when dropped.
#[derive(Debug)]
pub struct TlsRedisCluster {
    nodes: Vec<RedisServer>,
    certificates: TestCertificates,
    dir: PathBuf,
}

impl TlsRedisCluster {
    /// Starts `primaries` nodes (at least 3) and joins them.
    ///
    /// # Panics
    /// When the cluster cannot be formed.
    pub fn start(primaries: usize) -> Self {
        let dir = scratch_dir();
        let certificates =
            TestCertificates::generate(&dir).expect("certificates for the TLS cluster");
        let builder = TlsRedisServer::builder();
        let nodes: Vec<RedisServer> = (0..primaries.max(3))
            .map(|_| {
                builder.start_in(
                    scratch_dir(),
                    &certificates,
                    &[
                        "--tls-cluster",
                        "yes",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
            })
            .collect();
        let cluster = Self {
            nodes,
            certificates,
            dir,
        };
        let mut create = cluster
            .cli()
            .arg("--cluster")
            .arg("create")
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|node| format!("127.0.0.1:{}", node.port())),
            )
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-cli --tls --cluster create");
        // It waits for the nodes to meet without a bound of its own: one
        // whose bus handshake fails would hang the test.
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = create.try_wait().expect("wait for redis-cli") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = create.kill();
                let _ = create.wait();
                panic!("redis-cli --tls --cluster create did not finish within 30 s");
            }
            thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "redis-cli --tls --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.is_ok() {
            assert!(
                Instant::now() < deadline,
                "the TLS cluster did not become ok"
            );
            thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// Every node's `rediss://127.0.0.1:PORT/`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("rediss://127.0.0.1:{}/", node.port()))
            .collect()
    }

    /// The CA that signed every node's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.certificates.ca
    }

    /// `redis-cli` over TLS, trusting the cluster's CA.
    fn cli(&self) -> Command {
        let mut cli = Command::new("redis-cli");
        cli.arg("--tls").arg("--cacert").arg(&self.certificates.ca);
        cli
    }

    fn is_ok(&self) -> bool {
        self.nodes.iter().all(|node| {
            self.cli()
                .args(["-p", &node.port().to_string(), "cluster", "info"])
                .output()
                .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
        })
    }
}

impl Drop for TlsRedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
