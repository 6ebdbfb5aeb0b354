//! `keygate m2m`: create an M2M application, list them, get an access token
//! with its client credentials, and the failures (unknown organization, bad
//! scope, wrong secret, no emulator), against an in-process emulator over
//! real sockets; and through `keygate serve --state`, where the token names
//! the address served and the application outlives a restart.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use keygate_emulator::Emulator;
use serde_json::Value;

use support::{json, keygate, stderr, stdout};

/// Runs `keygate args…` against `base_url` with `env` (and no
/// `WORKOS_API_KEY` unless `env` has it), feeding `stdin`.
async fn keygate_at(base_url: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keygate"));
    command
        .args(args)
        .env_remove("WORKOS_API_KEY")
        .env_remove("WORKOS_CLIENT_SECRET")
        .env("WORKOS_BASE_URL", base_url)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    support::run(command, stdin).await
}

fn claims(token: &str) -> Value {
    let payload = token.trim().split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The one line of standard error of a run that failed with exit code 1
/// and printed nothing on standard output.
fn failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert!(stdout(out).is_empty(), "{}", stdout(out));
    stderr(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_shows_the_secret_once_list_shows_none_and_token_gets_a_jwt() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Partner").unwrap();
    let org_id = org.id.as_str();

    let out = keygate(
        &emu,
        &[
            "m2m",
            "create",
            "--org",
            org_id,
            "--name",
            "billing sync",
            "--scope",
            "posts:read,posts:write",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name}: {text}"))
    };
    let client_id = field("client id");
    let secret = field("client secret");
    assert!(client_id.starts_with("client_"), "{text}");
    assert_eq!(field("scopes"), "posts:read,posts:write");
    assert_eq!(field("organization"), org_id);
    assert!(text.contains("Store the client secret now: it is not shown again."));

    let created = json(
        &emu,
        &["m2m", "create", "--org", org_id, "--name", "second"],
    )
    .await;
    assert!(created["client_secret"].as_str().is_some(), "{created}");

    let listed = json(&emu, &["m2m", "list", "--org", org_id]).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["client_id"], client_id.as_str());
    assert_eq!(listed[0]["name"], "billing sync");
    assert!(listed.iter().all(|a| a.get("client_secret").is_none()));
    let table = keygate(&emu, &["m2m", "list"]).await;
    assert!(table.status.success(), "{}", stderr(&table));
    let table = stdout(&table);
    assert!(table.starts_with("CLIENT ID"), "{table}");
    assert!(table.contains("billing sync"), "{table}");
    assert!(!table.contains(&secret), "never the secret: {table}");

    // The token, for `$(…)`: the secret from the environment, no environment
    // secret needed.
    let out = keygate_at(
        emu.base_url(),
        &["m2m", "token", "--client-id", &client_id],
        &[("WORKOS_CLIENT_SECRET", &secret)],
        "",
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
    let c = claims(&stdout(&out));
    assert_eq!(c["sub"], client_id.as_str());
    assert_eq!(c["org_id"], org_id);
    assert_eq!(c["iss"], emu.authkit_domain());
    assert_eq!(c["aud"], emu.client_id());
    assert_eq!(c["scope"], "posts:read posts:write");

    // The secret from standard input, fewer scopes, and the whole answer.
    let out = keygate_at(
        emu.base_url(),
        &[
            "m2m",
            "token",
            "--client-id",
            &client_id,
            "--client-secret",
            "-",
            "--scope",
            "posts:read",
            "--json",
        ],
        &[],
        &format!("{secret}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["expires_in"], 3600);
    assert_eq!(
        claims(answer["access_token"].as_str().unwrap())["scope"],
        "posts:read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_one_clear_message_and_exit_code_1() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Partner").unwrap();
    let org_id = org.id.as_str();

    let unknown = "org_01HZZZZZZZZZZZZZZZZZZZZZZZ";
    let out = keygate(&emu, &["m2m", "create", "--org", unknown, "--name", "x"]).await;
    let message = failure(&out);
    assert!(
        message.starts_with(&format!(
            "keygate: Could not find organization with id '{unknown}'. \
             [404 entity_not_found from POST /_emulator/m2m_applications, request id "
        )),
        "{message}"
    );
    let out = keygate(&emu, &["m2m", "list", "--org", unknown]).await;
    assert!(failure(&out).contains("404 entity_not_found"));

    let out = keygate(
        &emu,
        &[
            "m2m",
            "create",
            "--org",
            org_id,
            "--name",
            "x",
            "--scope",
            "posts read",
        ],
    )
    .await;
    let message = failure(&out);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 2, "{message}");
    assert!(
        lines[0].contains("[422 invalid_request_parameters from POST /_emulator/m2m_applications"),
        "{message}"
    );
    assert_eq!(
        lines[1],
        "  scopes[0]: is not an OAuth scope (printable ASCII, no spaces, quotes or backslashes)"
    );

    let app = emu
        .create_m2m_application(&org.id, &["posts:read"])
        .unwrap();
    let token = |secret: &str, scope: Option<&str>| {
        let mut args = vec!["m2m", "token", "--client-id", &app.client_id];
        if let Some(scope) = scope {
            args.extend(["--scope", scope]);
        }
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let secret = secret.to_owned();
        let base = emu.base_url().to_owned();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            keygate_at(&base, &args, &[("WORKOS_CLIENT_SECRET", &secret)], "").await
        }
    };
    let out = token(&app.client_secret, Some("posts:write")).await;
    let message = failure(&out);
    assert!(
        message.starts_with(
            "keygate: The application was not granted a requested scope. \
             [400 invalid_scope from POST /oauth2/token"
        ),
        "{message}"
    );
    let out = token("wrong-secret", None).await;
    let message = failure(&out);
    assert!(
        message.contains("[401 invalid_client from POST /oauth2/token"),
        "{message}"
    );
    assert!(!message.contains("wrong-secret"), "{message}");
    // With --json, the refusal as code and message.
    let out = keygate_at(
        emu.base_url(),
        &["m2m", "token", "--client-id", &app.client_id, "--json"],
        &[("WORKOS_CLIENT_SECRET", "wrong-secret")],
        "",
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let printed: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(printed["code"], "invalid_client");

    // The controls need the environment secret; the token does not.
    let out = keygate_at(emu.base_url(), &["m2m", "list"], &[], "").await;
    assert!(failure(&out).contains("WORKOS_API_KEY is not set"));

    // No emulator there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    for args in [
        &["m2m", "list"][..],
        &["m2m", "token", "--client-id", "client_x"][..],
    ] {
        let out = keygate_at(
            &closed,
            args,
            &[
                ("WORKOS_API_KEY", "sk_test_x"),
                ("WORKOS_CLIENT_SECRET", "s"),
            ],
            "",
        )
        .await;
        let message = failure(&out);
        assert!(
            message.contains("could not talk to the key service"),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1, "{message}");
    }

    // A base URL that is not an emulator: its 404 says so.
    let out = keygate_at(
        &format!("{}/elsewhere", emu.base_url()),
        &["m2m", "list"],
        &[("WORKOS_API_KEY", emu.secret().expose_secret())],
        "",
    )
    .await;
    assert!(failure(&out).contains("404"), "{}", stderr(&out));

    // Usage errors: clap's, exit code 2.
    let out = keygate(&emu, &["m2m", "create", "--name", "x"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = keygate_at(
        emu.base_url(),
        &["m2m", "token", "--client-id", "c"],
        &[],
        "",
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "no client secret: {}",
        stderr(&out)
    );
}

/// `keygate serve --state FILE --port PORT`: its address, and stdout kept open.
struct Served {
    child: std::process::Child,
    url: String,
    client_id: String,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SECRET: &str = "sk_test_m2m";

fn serve(state: &std::path::Path, port: u16) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--secret",
            SECRET,
            "--state",
        ])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keygate starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = None;
    let mut client_id = None;
    while client_id.is_none() {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "serve stopped");
        if let Some(u) = line.trim().strip_prefix("listening on ") {
            url = Some(u.to_owned());
        }
        if let Some(c) = line.trim().strip_prefix("client id: ") {
            client_id = Some(c.to_owned());
        }
    }
    Served {
        child,
        url: url.expect("a listening line"),
        client_id: client_id.unwrap(),
        _stdout: stdout,
    }
}

async fn key_set(url: &str) -> Value {
    reqwest::get(format!("{url}/oauth2/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_serve_the_token_names_its_address_and_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let served = serve(&state, 0);
    let env = [("WORKOS_API_KEY", SECRET)];
    let org: Value = {
        let out = keygate_at(
            &served.url,
            &["orgs", "create", "--name", "Partner", "--json"],
            &env,
            "",
        )
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let out = keygate_at(
        &served.url,
        &[
            "m2m",
            "create",
            "--org",
            org["id"].as_str().unwrap(),
            "--name",
            "sync",
            "--json",
        ],
        &env,
        "",
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let app: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (client_id, secret) = (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    );
    let token_args = ["m2m", "token", "--client-id", client_id.as_str()];
    let secret_env = [("WORKOS_CLIENT_SECRET", secret.as_str())];
    let out = keygate_at(&served.url, &token_args, &secret_env, "").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let before = stdout(&out);
    let c = claims(&before);
    assert_eq!(
        c["iss"],
        served.url.as_str(),
        "the address served, not a private one"
    );
    assert_eq!(c["aud"], served.client_id.as_str());
    let set_before = key_set(&served.url).await;

    // Killed, and started again on the same file and port.
    let port: u16 = served.url.rsplit(':').next().unwrap().parse().unwrap();
    drop(served);
    let served = serve(&state, port);
    assert_eq!(
        served.client_id,
        c["aud"].as_str().unwrap(),
        "the same client id"
    );
    assert_eq!(
        key_set(&served.url).await,
        set_before,
        "the same signing key"
    );
    let out = keygate_at(&served.url, &token_args, &secret_env, "").await;
    assert!(
        out.status.success(),
        "the secret still works: {}",
        stderr(&out)
    );
    assert_eq!(claims(&stdout(&out))["iss"], c["iss"]);
    let out = keygate_at(&served.url, &["m2m", "list", "--json"], &env, "").await;
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["client_id"], client_id.as_str());
}
