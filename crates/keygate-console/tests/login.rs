//! The secret login `keygate serve` puts in front of the console: the
//! secret compared in full, the form's CSRF token required, logout ending
//! the session.

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use http::request::Parts;
use keygate_console::login::SecretLogin;

const SECRET: &str = "sk_test_login_secret_0123456789";

async fn start() -> String {
    let login = SecretLogin::new(SECRET).secure_cookies(false);
    let check = login.clone();
    let app = Router::new()
        .route(
            "/",
            get(move |request: axum::extract::Request| {
                let (parts, _): (Parts, _) = request.into_parts();
                let signed_in = check.is_signed_in(&parts);
                async move { if signed_in { "in" } else { "out" } }
            }),
        )
        .merge(login.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    base
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
async fn only_the_whole_secret_with_the_forms_token_signs_in_until_logout() {
    let base = start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert_eq!(form.headers()["cache-control"], "no-store");
    let csrf = cookie(&form, "keygate_csrf").unwrap();
    let post = |path: &'static str, token: String, secret: &str, session: Option<String>| {
        let mut cookies = format!("keygate_csrf={csrf}");
        if let Some(session) = session {
            cookies.push_str(&format!("; keygate_session={session}"));
        }
        http.post(format!("{base}{path}"))
            .header("cookie", cookies)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf_token={token}&secret={secret}"))
            .send()
    };
    let prefix = &SECRET[..SECRET.len() - 1];
    for (token, secret, status) in [
        (csrf.clone(), "sk_test_wrong", StatusCode::UNAUTHORIZED),
        (csrf.clone(), "", StatusCode::UNAUTHORIZED),
        (csrf.clone(), prefix, StatusCode::UNAUTHORIZED),
        (String::new(), SECRET, StatusCode::FORBIDDEN),
    ] {
        let answer = post("/login", token, secret, None).await.unwrap();
        assert_eq!(answer.status(), status);
        assert!(cookie(&answer, "keygate_session").is_none());
    }

    let signed = post("/login", csrf.clone(), SECRET, None).await.unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed.headers()["location"], "/");
    let session = cookie(&signed, "keygate_session").unwrap();
    let whoami = |session: String| {
        http.get(format!("{base}/"))
            .header("cookie", format!("keygate_session={session}"))
            .send()
    };
    assert_eq!(
        whoami(session.clone()).await.unwrap().text().await.unwrap(),
        "in"
    );
    assert_eq!(
        whoami("0".repeat(64)).await.unwrap().text().await.unwrap(),
        "out"
    );

    // Logout needs the token too; then the session is over.
    let refused = post("/logout", String::new(), "", Some(session.clone()))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        whoami(session.clone()).await.unwrap().text().await.unwrap(),
        "in"
    );
    let out = post("/logout", csrf.clone(), "", Some(session.clone()))
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami(session).await.unwrap().text().await.unwrap(), "out");
}
