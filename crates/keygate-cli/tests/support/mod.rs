//! Running the built `keygate` binary against an in-process emulator, for the
//! end-to-end tests of the key-service commands.

// Each test binary compiles this module and uses only a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use keygate_emulator::Emulator;
use serde_json::Value;

/// Runs `keygate args…` against `emu`, feeding `stdin`.
pub async fn keygate_with(
    emu: &Emulator,
    secret: Option<&str>,
    args: &[&str],
    stdin: &str,
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keygate"));
    command
        .args(args)
        .env_remove("WORKOS_API_KEY")
        .env("WORKOS_BASE_URL", emu.base_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(secret) = secret {
        command.env("WORKOS_API_KEY", secret);
    }
    run(command, stdin).await
}

/// Runs `command`, feeding `stdin`, and waits for its output.
pub async fn run(mut command: Command, stdin: &str) -> Output {
    let stdin = stdin.to_owned();
    // The emulator runs on this runtime's other threads while we wait.
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("keygate runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

pub async fn keygate(emu: &Emulator, args: &[&str]) -> Output {
    keygate_with(emu, Some(emu.secret().expose_secret()), args, "").await
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed with JSON output, and returns it.
pub async fn json(emu: &Emulator, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = keygate(emu, &all).await;
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)))
}

pub fn id(v: &Value) -> &str {
    v["id"].as_str().expect("an id")
}
