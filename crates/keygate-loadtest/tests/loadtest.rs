//! End to end over loopback: the servers answer what the load test sends,
//! the generator counts what it gets, and the binary runs both commands.

use std::process::Command;
use std::time::Duration;

use keygate_loadtest::drive::{DriveError, Load, run};
use keygate_loadtest::servers::{
    self, Credentials, EXTRACTOR_PATH, HELLO_PATH, JWT_PATH, KEYGATE_PATH, PUBLIC_PATH,
    SESSION_PATH, STATIC_BEARER_PATH, VALIDATION_PATH,
};
use keygate_loadtest::wire::Request;

fn short(addr: std::net::SocketAddr, request: Request) -> Load {
    Load {
        addr,
        request: request.encode(&addr.to_string()),
        connections: 4,
        warmup: Duration::from_millis(50),
        duration: Duration::from_millis(250),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_200_under_load_and_refusals_are_counted() {
    let credentials = Credentials::generate();
    let servers = servers::start(&credentials).await.unwrap();
    let bearer = format!("Bearer {}", credentials.key.expose_secret());
    let body = serde_json::json!({ "value": credentials.key.expose_secret() }).to_string();
    let secret = format!("Bearer {}", credentials.secret.expose_secret());
    let session = servers::session_token(
        servers.emulator,
        &credentials.secret,
        &servers.session_user,
        &servers.session_organization,
    )
    .await
    .unwrap();
    let session = format!("Bearer {}", session.expose_secret());

    for (name, load) in [
        (
            "public",
            short(
                servers.app,
                Request::get(PUBLIC_PATH).header("authorization", &bearer),
            ),
        ),
        (
            "keygate",
            short(
                servers.app,
                Request::get(KEYGATE_PATH).header("authorization", &bearer),
            ),
        ),
        (
            "static bearer",
            short(
                servers.app,
                Request::get(STATIC_BEARER_PATH).header("authorization", &bearer),
            ),
        ),
        (
            "jwt",
            short(
                servers.app,
                Request::get(JWT_PATH)
                    .header("authorization", format!("Bearer {}", servers::jwt())),
            ),
        ),
        (
            "keygate with a session token",
            short(
                servers.app,
                Request::get(SESSION_PATH).header("authorization", &session),
            ),
        ),
        (
            "keygate with the extractor",
            short(
                servers.app,
                Request::get(EXTRACTOR_PATH).header("authorization", &bearer),
            ),
        ),
        (
            "validation",
            short(
                servers.emulator,
                Request::post_json(VALIDATION_PATH, body.clone()).header("authorization", &secret),
            ),
        ),
        ("hello", short(servers.hello, Request::get(HELLO_PATH))),
    ] {
        let measured = run(&load).await.unwrap();
        assert!(measured.ok > 0, "{name}: no request answered");
        assert_eq!(measured.failed, 0, "{name}: non-200 answers");
        assert_eq!(measured.latencies.len() as u64, measured.ok);
        assert!(measured.requests_per_second() > 0.0);
    }

    // Without a key, the keygate routes refuse: counted, not measured.
    for path in [
        KEYGATE_PATH,
        EXTRACTOR_PATH,
        STATIC_BEARER_PATH,
        JWT_PATH,
        SESSION_PATH,
    ] {
        let refused = run(&short(servers.app, Request::get(path))).await.unwrap();
        assert_eq!(refused.ok, 0, "{path}");
        assert!(refused.failed > 0, "{path}");
    }

    // The session door takes only what its verifier trusts: the HS256
    // door's token is refused there.
    let forged = run(&short(
        servers.app,
        Request::get(SESSION_PATH).header("authorization", format!("Bearer {}", servers::jwt())),
    ))
    .await
    .unwrap();
    assert_eq!(forged.ok, 0);
    assert!(forged.failed > 0);
}

#[tokio::test]
async fn a_closed_port_is_an_error_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = run(&short(addr, Request::get("/"))).await.unwrap_err();
    assert!(matches!(error, DriveError::Io { .. }), "{error}");
}

#[test]
fn the_binary_runs_the_comparisons_and_the_memory_probe() {
    let exe = env!("CARGO_BIN_EXE_keygate-loadtest");
    let http = Command::new(exe)
        .args([
            "http",
            "--rounds",
            "1",
            "--seconds",
            "0.2",
            "--warmup-seconds",
            "0.05",
        ])
        .args(["--connections", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&http.stdout);
    assert!(
        http.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&http.stderr)
    );
    for expected in [
        "| no auth | 1 |",
        "| keygate (hit + guard) | 1 |",
        "| tower-http static bearer | 1 |",
        "| HS256 JWT (jsonwebtoken) | 1 |",
        "| keygate session token (hit + guard) | 1 |",
        "| emulator validation | 1 |",
        "| hello-world route | 1 |",
        "of the static-bearer route's requests/s",
        "over the static bearer (target <= 1.0)",
        "the HS256 JWT door's requests/s",
        "target >= 2x",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("sk_"),
        "a key or secret was printed:\n{stdout}"
    );
    // A JWT's header starts `eyJ` (base64 of `{"`).
    assert!(!stdout.contains("eyJ"), "a token was printed:\n{stdout}");
    assert!(
        !stdout.contains("answered non-200"),
        "a door refused its own credential:\n{stdout}"
    );

    let memory = Command::new(exe)
        .args(["memory", "--keys", "1000"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&memory.stdout);
    assert!(memory.status.success(), "{stdout}");
    assert!(
        stdout.contains("store=keygate principals=1000 "),
        "{stdout}"
    );
    assert!(stdout.contains("bytes_per_principal="), "{stdout}");
}
