//! The console as `keygate serve` runs it: behind the secret login, every
//! organization, a switcher that only switches to one of them.

mod support;

use std::collections::BTreeMap;

use http::StatusCode;
use keygate_console::local::LocalConsole;
use support::Harness;

struct Session {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Session {
    fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all("set-cookie") {
            let (pair, _) = set.to_str().unwrap().split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.into(), value.into());
        }
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("accept", "text/html")
            .header("cookie", self.header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&mut self, path: &str, body: String) -> reqwest::Response {
        let token = self
            .cookies
            .get("keygate_csrf")
            .cloned()
            .unwrap_or_default();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf_token={token}&{body}"))
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }
}

#[tokio::test]
async fn the_local_console_needs_the_secret_and_switches_only_between_organizations() {
    let h = Harness::start().await;
    let acme = h.emu.create_organization("Acme").unwrap();
    let globex = h.emu.create_organization("Globex").unwrap();
    h.emu
        .create_organization_key(&acme.id, "acme key", &["posts:read"])
        .unwrap();
    h.emu
        .create_organization_key(&globex.id, "globex key", &["admin"])
        .unwrap();
    let app = LocalConsole::new(h.client.clone(), h.emu.secret().clone()).router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    let mut session = Session {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base,
        cookies: BTreeMap::new(),
    };

    // Signed out: the page sends you to the login.
    let (status, _) = session.get("/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    session.get("/login").await;
    let secret = h.emu.secret().expose_secret().to_owned();
    let signed = session.post("/login", format!("secret={secret}")).await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);

    // The first organization by name, with a switcher holding both.
    let (status, page) = session.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("acme key") && !page.contains("globex key"));
    assert!(page.contains(&format!("<option value=\"{}\"", globex.id)));
    // Without an allow-list, the permissions already in use are offered.
    assert!(page.contains("value=\"posts:read\"") && !page.contains("value=\"admin\""));

    let switched = session
        .post("/organization", format!("organization={}", globex.id))
        .await;
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    let (_, page) = session.get("/").await;
    assert!(page.contains("globex key") && !page.contains("acme key"));
    assert!(page.contains("value=\"admin\""));

    // An organization that is not a choice is refused, and a forged cookie
    // falls back to the first organization.
    let refused = session
        .post(
            "/organization",
            "organization=org_01HZX4V2C5QW8M0R6T9B3N7K1P".into(),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    session.cookies.insert(
        "keygate_org".into(),
        "org_01HZX4V2C5QW8M0R6T9B3N7K1P".into(),
    );
    let (_, page) = session.get("/").await;
    assert!(page.contains("acme key"));
}
