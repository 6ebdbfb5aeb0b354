//! `keygate serve`'s secret, given without putting it in the process list:
//! from `--secret-file` or from `KEYGATE_SECRET`; and `--help` says why.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the child when the test is done with it. Holds its standard
/// output open until then: `keygate serve` stops when it cannot write its
/// first lines.
struct Running(Child, Option<BufReader<std::process::ChildStdout>>);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `keygate serve --port 0` with `args` and `env`; returns the
/// running child, its address and the secret it printed.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Running, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keygate"));
    command
        .args(["serve", "--port", "0"])
        .args(args)
        .env_remove("KEYGATE_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = Running(command.spawn().expect("keygate starts"), None);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut lines = [String::new(), String::new()];
    for line in &mut lines {
        stdout.read_line(line).unwrap();
    }
    child.1 = Some(stdout);
    let addr = lines[0]
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {:?}", lines[0]))
        .to_owned();
    let secret = lines[1]
        .trim()
        .strip_prefix("secret: ")
        .unwrap_or_else(|| panic!("second line: {:?}", lines[1]))
        .to_owned();
    (child, addr, secret)
}

fn status(addr: &str, secret: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /organizations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn serve_takes_its_secrets_from_a_file() {
    let dir = std::env::temp_dir().join(format!("keygate-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets");
    std::fs::write(&file, "sk_test_from_file\n\n  sk_test_second  \n").unwrap();
    let (_child, addr, printed) = serve(&["--secret-file", file.to_str().unwrap()], &[]);
    assert_eq!(printed, "sk_test_from_file");
    assert_eq!(status(&addr, "sk_test_from_file"), "HTTP/1.1 200 OK");
    assert_eq!(status(&addr, "sk_test_second"), "HTTP/1.1 200 OK");
    assert_eq!(status(&addr, "sk_test_other"), "HTTP/1.1 401 Unauthorized");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serve_takes_its_secret_from_keygate_secret() {
    let (_child, addr, printed) = serve(&[], &[("KEYGATE_SECRET", "sk_test_from_env")]);
    assert_eq!(printed, "sk_test_from_env");
    assert_eq!(status(&addr, "sk_test_from_env"), "HTTP/1.1 200 OK");
}

#[test]
fn a_missing_or_empty_secret_file_fails_with_a_message() {
    for (name, contents) in [("missing", None), ("empty", Some("\n  \n"))] {
        let path =
            std::env::temp_dir().join(format!("keygate-secret-{name}-{}", std::process::id()));
        if let Some(contents) = contents {
            std::fs::write(&path, contents).unwrap();
        }
        let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(["serve", "--port", "0", "--secret-file"])
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(!out.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&path.display().to_string()) && stderr.contains("secret"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn serve_help_warns_that_secret_is_visible_in_the_process_list() {
    let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--help"])
        .env("KEYGATE_SECRET", "sk_test_HIDDEN")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("process list"), "{help}");
    assert!(help.contains("--secret-file"), "{help}");
    assert!(help.contains("KEYGATE_SECRET"), "{help}");
    assert!(
        !help.contains("sk_test_HIDDEN"),
        "help shows the secret: {help}"
    );
}
