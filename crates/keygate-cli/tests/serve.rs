//! `keygate serve` end to end: the built binary starts, prints where it
//! listens and the secret it accepts, answers `/health` within 2 s of launch,
//! and shuts down cleanly on Ctrl-C (SIGINT).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child if the test fails before it stops it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str, secret: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let auth = secret
        .map(|s| format!("Authorization: Bearer {s}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn serve_prints_url_and_secret_answers_health_and_stops_on_ctrl_c() {
    let launched = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--port", "0", "--secret", "sk_test_x"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keygate starts");
    let mut child = Running(child);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let mut second = String::new();
    stdout.read_line(&mut second).unwrap();

    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let addr = url
        .strip_prefix("http://127.0.0.1:")
        .map(|port| format!("127.0.0.1:{port}"));
    let addr = addr.unwrap_or_else(|| panic!("not a loopback URL: {url}"));
    assert_eq!(second.trim(), "secret: sk_test_x");

    let health = get(&addr, "/health", None);
    let ready = launched.elapsed();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains(r#"{"status":"ok"}"#));
    assert!(
        ready < Duration::from_secs(2),
        "health answered {ready:?} after launch"
    );
    println!("/health answered {ready:?} after launch");

    let orgs = get(&addr, "/organizations", Some("sk_test_x"));
    assert!(orgs.starts_with("HTTP/1.1 200"), "{orgs}");
    let denied = get(&addr, "/organizations", Some("sk_test_y"));
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");

    // Ctrl-C.
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "clean exit: {status}");
}

#[test]
fn a_generated_secret_is_printed_and_a_bad_seed_fails_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--port", "0", "--seed", "/nonexistent/seed.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("seed") && err.contains("/nonexistent/seed.json"),
        "{err}"
    );

    let child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("listening on http://127.0.0.1:"),
        "{first}"
    );
    let secret = lines.next().unwrap().unwrap();
    let secret = secret.strip_prefix("secret: ").unwrap();
    assert!(
        secret.starts_with("sk_test_") && secret.len() > 20,
        "{secret}"
    );
    let addr = first.strip_prefix("listening on http://").unwrap();
    assert!(get(addr, "/organizations", Some(secret)).starts_with("HTTP/1.1 200"));
}

#[test]
fn log_format_json_writes_one_json_object_per_line_on_stderr() {
    let child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args([
            "serve",
            "--port",
            "0",
            "--secret",
            "sk_test_x",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let line = line.trim();
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains(r#""level":"INFO""#), "{line}");
    assert!(
        line.contains(r#""message":"listening""#) && line.contains(r#""url":"http://127.0.0.1:"#),
        "{line}"
    );
    assert!(
        !line.contains("sk_test_x"),
        "the secret stays out of the logs"
    );
}

/// A script may interrupt as soon as it has read the first lines.
#[test]
fn ctrl_c_right_after_the_first_lines_is_still_a_clean_exit() {
    for _ in 0..5 {
        let child = Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(["serve", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Running(child);
        let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
        lines.next().unwrap().unwrap();
        lines.next().unwrap().unwrap();
        let pid = child.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = child.0.wait().unwrap();
        assert!(status.success(), "clean exit: {status}");
    }
}

/// Every `127.0.0.1:PORT` in `text`.
fn loopback_addresses(text: &str) -> std::collections::BTreeSet<String> {
    text.match_indices("127.0.0.1:")
        .map(|(at, prefix)| {
            let port: String = text[at + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            format!("127.0.0.1:{port}")
        })
        .collect()
}

#[test]
fn one_address_is_printed_from_start_to_shutdown() {
    let child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--port", "0", "--secret", "sk_test_x"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut printed = String::new();
    for _ in 0..3 {
        stdout.read_line(&mut printed).unwrap();
    }
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    stdout.read_to_string(&mut printed).unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert!(child.0.wait().unwrap().success());

    let addresses = loopback_addresses(&printed);
    assert_eq!(addresses.len(), 1, "{printed}");
    let addr = addresses.first().unwrap();
    assert!(
        printed.contains(&format!("listening on http://{addr}\n")),
        "{printed}"
    );
}
