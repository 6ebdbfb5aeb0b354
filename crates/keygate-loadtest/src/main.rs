//! `keygate-loadtest`: the load test and the memory probe.
//!
//! - `keygate-loadtest http`: starts the servers under test in a child
//!   process (optionally pinned to its own CPUs with `taskset`), then drives
//!   five front doors to one handler in rotation (none, keygate with an API
//!   key, tower-http's static bearer, an HS256 JWT, keygate with an AuthKit
//!   session token), and the emulator's validation against a hello-world
//!   route, and prints Markdown tables and the issues' targets
//!   (`--only keygate|emulator` runs one of the two comparisons).
//! - `keygate-loadtest memory`: resident memory per cached principal.
//! - `keygate-loadtest serve`: the child process (internal).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use keygate_loadtest::compare::{Side, Tally, ratios, rotate, table};
use keygate_loadtest::drive::Load;
use keygate_loadtest::memory::{self, Store};
use keygate_loadtest::servers::{
    self, Credentials, HELLO_PATH, JWT_PATH, KEY_VAR, KEYGATE_PATH, PUBLIC_PATH, SECRET_VAR,
    SESSION_PATH, STATIC_BEARER_PATH, VALIDATION_PATH,
};
use keygate_loadtest::wire::Request;
use keygate_types::{OrganizationId, UserId};

#[derive(Debug, Parser)]
#[command(about = "keygate's load test and memory probe (loopback only)")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// One of the two comparisons `http` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Comparison {
    /// The five front doors: none, keygate (API key), tower-http's static
    /// bearer, an HS256 JWT, keygate (session token).
    Keygate,
    /// The emulator's validation against the hello-world route.
    Emulator,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Drive the servers under test over loopback HTTP/1.1 and compare.
    Http {
        /// Rounds per comparison (each side once per round, order alternating).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Measured seconds per run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Unmeasured warm-up seconds before each run.
        #[arg(long, default_value_t = 1.0)]
        warmup_seconds: f64,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// CPUs for the server process (a `taskset -c` list, e.g. `0`);
        /// unpinned when absent.
        #[arg(long)]
        server_cpus: Option<String>,
        /// Worker threads of the server process's runtime.
        #[arg(long, default_value_t = 1)]
        server_threads: usize,
        /// Run only one of the two comparisons.
        #[arg(long, value_enum)]
        only: Option<Comparison>,
    },
    /// Resident memory per cached principal.
    Memory {
        /// Principals to hold.
        #[arg(long, default_value_t = 100_000)]
        keys: u64,
        /// Where to hold them.
        #[arg(long, value_enum, default_value_t = Store::Keygate)]
        store: Store,
    },
    /// A tonic unary call through keygate against the same call without
    /// auth, in one process, the order alternating each round.
    #[cfg(feature = "tonic")]
    Grpc {
        /// Rounds (each side once per round).
        #[arg(long, default_value_t = 4)]
        rounds: usize,
        /// Measured seconds per run.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Unmeasured warm-up seconds before each run.
        #[arg(long, default_value_t = 0.5)]
        warmup_seconds: f64,
        /// Calls in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// HTTP/2 connections they share.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Worker threads of the runtime (servers and driver share it).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Run the servers under test (the child of `http`): prints their
    /// addresses and the session door's user and organization ids on one
    /// line, serves until stdin closes.
    #[command(hide = true)]
    Serve {
        /// Worker threads of the runtime.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Commands::Http {
            rounds,
            seconds,
            warmup_seconds,
            connections,
            server_cpus,
            server_threads,
            only,
        } => http(
            rounds,
            Duration::from_secs_f64(seconds),
            Duration::from_secs_f64(warmup_seconds),
            connections,
            server_cpus.as_deref(),
            server_threads,
            only,
        ),
        Commands::Memory { keys, store } => memory_probe(keys, store),
        Commands::Serve { threads } => serve(threads),
        #[cfg(feature = "tonic")]
        Commands::Grpc {
            rounds,
            seconds,
            warmup_seconds,
            concurrency,
            connections,
            threads,
        } => grpc(
            rounds,
            keygate_loadtest::grpc::GrpcLoad {
                concurrency,
                connections,
                warmup: Duration::from_secs_f64(warmup_seconds),
                duration: Duration::from_secs_f64(seconds),
            },
            threads,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keygate-loadtest: {error}");
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error>;

/// `keygate-loadtest grpc`: both sides in one run, a table and the cost.
#[cfg(feature = "tonic")]
fn grpc(
    rounds: usize,
    load: keygate_loadtest::grpc::GrpcLoad,
    threads: usize,
) -> Result<(), Failure> {
    use keygate_loadtest::grpc::{GrpcServers, METHOD, compare};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let servers = GrpcServers::start().await.map_err(|e| e.to_string())?;
        println!(
            "{METHOD}: {} calls in flight over {} HTTP/2 connections, {} rounds of {:?} \
             (warm-up {:?}), {} runtime threads shared by servers and driver",
            load.concurrency, load.connections, rounds, load.duration, load.warmup, threads
        );
        let [bare, keygate] = compare(&servers, load, rounds.max(1))
            .await
            .map_err(|e| e.to_string())?;
        println!();
        print!("{}", table(&[&bare, &keygate]));
        let (throughput, p99) = ratios(&keygate, &bare);
        let per_call = 1e6 / keygate.requests_per_second() - 1e6 / bare.requests_per_second();
        println!();
        println!(
            "keygate: {:.1}% of the bare throughput, p99 x{p99:.2}; \
             {per_call:.1} µs more wall time per call at this concurrency \
             ({:.0} vs {:.0} calls/s)",
            throughput * 100.0,
            keygate.requests_per_second(),
            bare.requests_per_second()
        );
        Ok::<_, Failure>(())
    })
}

fn serve(threads: usize) -> Result<(), Failure> {
    let credentials =
        Credentials::from_env().ok_or_else(|| format!("{SECRET_VAR} and {KEY_VAR} must be set"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let servers = servers::start(&credentials).await?;
        // Ids only: the driver asks the emulator for the token itself, so
        // that no credential passes through this line.
        println!(
            "app={} emulator={} hello={} user={} organization={}",
            servers.app,
            servers.emulator,
            servers.hello,
            servers.session_user,
            servers.session_organization
        );
        // Serve until the driver closes our stdin (or dies).
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        })
        .await?;
        drop(servers);
        Ok(())
    })
}

/// The server process, killed if still running when dropped.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        // It exits once its stdin closes; make sure, by its own id.
        std::thread::sleep(Duration::from_millis(200));
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// What the server process announces.
struct Addresses {
    app: SocketAddr,
    emulator: SocketAddr,
    hello: SocketAddr,
    session_user: UserId,
    session_organization: OrganizationId,
}

fn spawn_servers(
    credentials: &Credentials,
    cpus: Option<&str>,
    threads: usize,
) -> Result<(ServerProcess, Addresses), Failure> {
    let exe = std::env::current_exe()?;
    let mut command = match cpus {
        Some(cpus) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpus).arg(exe);
            command
        }
        None => Command::new(exe),
    };
    command
        .arg("serve")
        .arg("--threads")
        .arg(threads.to_string())
        .env(SECRET_VAR, credentials.secret.expose_secret())
        .env(KEY_VAR, credentials.key.expose_secret())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = ServerProcess(command.spawn()?);
    let stdout = child.0.stdout.take().ok_or("no stdout from the server")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let field = |name: &str| -> Result<&str, Failure> {
        line.split_whitespace()
            .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| format!("no {name} in the server's line: {line:?}").into())
    };
    let addresses = Addresses {
        app: field("app")?.parse()?,
        emulator: field("emulator")?.parse()?,
        hello: field("hello")?.parse()?,
        session_user: field("user")?.parse()?,
        session_organization: field("organization")?.parse()?,
    };
    Ok((child, addresses))
}

fn http(
    rounds: usize,
    duration: Duration,
    warmup: Duration,
    connections: usize,
    server_cpus: Option<&str>,
    server_threads: usize,
    only: Option<Comparison>,
) -> Result<(), Failure> {
    let credentials = Credentials::generate();
    let (server, addresses) = spawn_servers(&credentials, server_cpus, server_threads)?;
    let server_pid = server.0.id();
    let server_cpu = move || keygate_loadtest::cpu::process_cpu(server_pid);
    let bearer = format!("Bearer {}", credentials.key.expose_secret());
    let load = |addr: SocketAddr, request: Request| Load {
        addr,
        request: request.encode(&addr.to_string()),
        connections,
        warmup,
        duration,
    };
    // The public and static-bearer routes get the same header, so their
    // requests are the same size as keygate's.
    let door = |label: &str, path: &str, authorization: &str| Side {
        label: label.to_owned(),
        load: load(
            addresses.app,
            Request::get(path).header("authorization", authorization),
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let jwt = format!("Bearer {}", servers::jwt());
    let session = runtime.block_on(servers::session_token(
        addresses.emulator,
        &credentials.secret,
        &addresses.session_user,
        &addresses.session_organization,
    ))?;
    let session = format!("Bearer {}", session.expose_secret());
    let doors = [
        door("no auth", PUBLIC_PATH, &bearer),
        door("keygate (hit + guard)", KEYGATE_PATH, &bearer),
        door("tower-http static bearer", STATIC_BEARER_PATH, &bearer),
        door("HS256 JWT (jsonwebtoken)", JWT_PATH, &jwt),
        door(
            "keygate session token (hit + guard)",
            SESSION_PATH,
            &session,
        ),
    ];
    let body = serde_json::json!({ "value": credentials.key.expose_secret() }).to_string();
    let validation = Side {
        label: "emulator validation".to_owned(),
        load: load(
            addresses.emulator,
            Request::post_json(VALIDATION_PATH, body).header(
                "authorization",
                format!("Bearer {}", credentials.secret.expose_secret()),
            ),
        ),
    };
    let hello = Side {
        label: "hello-world route".to_owned(),
        load: load(addresses.hello, Request::get(HELLO_PATH)),
    };

    println!(
        "{connections} connections, {} s measured after {} s warm-up, {rounds} rounds, \
         server on {} with {server_threads} worker thread(s)",
        duration.as_secs_f64(),
        warmup.as_secs_f64(),
        server_cpus.map_or("any CPU".to_owned(), |cpus| format!("CPU {cpus}")),
    );
    println!();
    let mut tallies = Vec::new();
    let keygate = if only.is_none_or(|c| c == Comparison::Keygate) {
        let doors = runtime.block_on(rotate(&doors, rounds, &server_cpu))?;
        println!("{}", table(&doors.iter().collect::<Vec<_>>()));
        tallies.extend(doors.iter().cloned());
        Some(doors)
    } else {
        None
    };
    let emulator = if only.is_none_or(|c| c == Comparison::Emulator) {
        let pair = runtime.block_on(rotate(&[validation, hello], rounds, &server_cpu))?;
        println!("{}", table(&pair.iter().collect::<Vec<_>>()));
        tallies.extend(pair.iter().cloned());
        Some(pair)
    } else {
        None
    };
    println!("targets");
    if let Some(doors) = &keygate {
        print_keygate_targets(&doors[0], &doors[1], &doors[2], &doors[3]);
        print_session_target(&doors[4], &doors[3], &doors[0]);
    }
    if let Some(pair) = &emulator {
        print_emulator_targets(&pair[0], &pair[1]);
    }
    for tally in &tallies {
        if tally.failed() > 0 {
            println!(
                "  warning: {} answered non-200 {} times",
                tally.label,
                tally.failed()
            );
        }
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

fn print_keygate_targets(none: &Tally, keygate: &Tally, bearer: &Tally, jwt: &Tally) {
    let share = keygate.requests_per_second() / bearer.requests_per_second();
    println!(
        "  keygate: {:.1}% of the static-bearer route's requests/s (target >= 95%) {}",
        share * 100.0,
        verdict(share >= 0.95)
    );
    let cpu = |tally: &Tally| tally.server_cpu_micros();
    if [none, keygate, bearer, jwt]
        .iter()
        .all(|t| cpu(t).is_finite())
    {
        let added = cpu(keygate) - cpu(bearer);
        println!(
            "  server CPU per request: no auth {:.2} µs, keygate {:.2}, static bearer {:.2}, \
             JWT {:.2}; keygate adds {added:.2} µs over the static bearer (target <= 1.0) {}",
            cpu(none),
            cpu(keygate),
            cpu(bearer),
            cpu(jwt),
            verdict(added <= 1.0)
        );
    }
    for tally in [none, bearer, jwt] {
        let (share, p99) = ratios(keygate, tally);
        println!(
            "  keygate vs {}: {:.1}% of its requests/s, p99 {:+.1}%",
            tally.label,
            share * 100.0,
            (p99 - 1.0) * 100.0
        );
    }
}

/// Issue 27: a session token keygate has verified before is answered from
/// its cache; the HS256 door verifies a signature on every request. No auth
/// at all bounds what any door can reach, so it is printed beside the target.
fn print_session_target(session: &Tally, jwt: &Tally, none: &Tally) {
    let times = session.requests_per_second() / jwt.requests_per_second();
    println!(
        "  keygate session token: {times:.2}x the HS256 JWT door's requests/s \
         ({:.0} vs {:.0}; target >= 2x) {}",
        session.requests_per_second(),
        jwt.requests_per_second(),
        verdict(times >= 2.0)
    );
    let ceiling = none.requests_per_second() / jwt.requests_per_second();
    println!("    the ceiling, no auth at all: {ceiling:.2}x the HS256 JWT door's requests/s");
    let cpu = |tally: &Tally| tally.server_cpu_micros();
    if [session, jwt, none].iter().all(|t| cpu(t).is_finite()) {
        println!(
            "  server CPU per request: keygate session token {:.2} µs, HS256 JWT {:.2}, \
             no auth {:.2}: the session door costs {:.2} µs over no auth, the JWT door {:.2}",
            cpu(session),
            cpu(jwt),
            cpu(none),
            cpu(session) - cpu(none),
            cpu(jwt) - cpu(none)
        );
    }
}

fn print_emulator_targets(validation: &Tally, hello: &Tally) {
    let (share, _) = ratios(validation, hello);
    println!(
        "  emulator validation: {:.1}% of the hello-world route's requests/s (target >= 50%) {}",
        share * 100.0,
        verdict(share >= 0.5)
    );
    let (validation_cpu, hello_cpu) = (validation.server_cpu_micros(), hello.server_cpu_micros());
    if validation_cpu.is_finite() && hello_cpu.is_finite() {
        println!(
            "  server CPU per request: emulator validation {validation_cpu:.1} µs, hello-world \
             {hello_cpu:.1} µs: at full load {:.1}% of the hello-world route's requests/s",
            hello_cpu / validation_cpu * 100.0
        );
    }
}

fn memory_probe(keys: u64, store: Store) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(memory::fill(store, keys))?;
    let per_entry = report
        .bytes_per_entry()
        .map_or("-".to_owned(), |bytes| format!("{bytes:.0}"));
    println!(
        "store={} principals={} rss_before_bytes={} rss_after_bytes={} bytes_per_principal={per_entry}",
        match store {
            Store::Keygate => "keygate",
            Store::Floor => "floor",
        },
        report.entries,
        report.before,
        report.after,
    );
    Ok(())
}
