//! `keygate serve` mounts the key console at `/`, behind a login with the
//! environment secret, while every WorkOS and emulator route answers on the
//! same port as before.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Kills the child if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

#[tokio::test]
async fn serve_puts_the_console_behind_the_secret_and_leaves_the_emulator_routes_alone() {
    let child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--port", "0", "--secret", "sk_test_console_secret"])
        .args(["--organization-permission", "posts:read,posts:write"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keygate starts");
    let mut child = Running(child);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line.trim().to_owned());
    }
    let base = lines[0]
        .strip_prefix("listening on ")
        .expect("the URL")
        .to_owned();
    assert_eq!(
        lines[2],
        format!("key console: {base}/ (sign in with the secret)")
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The emulator's routes, through the same port.
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let org: serde_json::Value = http
        .post(format!("{base}/organizations"))
        .bearer_auth("sk_test_console_secret")
        .json(&serde_json::json!({"name": "Acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["name"], "Acme");
    let unknown = http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<serde_json::Value>().await.unwrap()["code"],
        "not_found"
    );

    // The console: a browser is sent to the login, an API caller gets 401.
    let page = http
        .get(&base)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login");
    let api = http.get(format!("{base}/api/keys")).send().await.unwrap();
    assert_eq!(api.status(), 401);

    let form = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let csrf = cookie(&form, "keygate_csrf").expect("the CSRF cookie");
    let login = |secret: &'static str| {
        http.post(format!("{base}/login"))
            .header("cookie", format!("keygate_csrf={csrf}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf_token={csrf}&secret={secret}"))
            .send()
    };
    assert_eq!(login("sk_test_wrong").await.unwrap().status(), 401);
    let signed = login("sk_test_console_secret").await.unwrap();
    assert_eq!(signed.status(), 303);
    let session = cookie(&signed, "keygate_session").expect("a session");

    let page = http
        .get(format!("{base}/"))
        .header(
            "cookie",
            format!("keygate_csrf={csrf}; keygate_session={session}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Acme"));
    assert!(
        page.contains("value=\"posts:write\""),
        "the allow-list is offered"
    );
}
