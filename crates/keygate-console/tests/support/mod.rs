//! What the console's end-to-end tests share: an emulator, the console on a
//! real socket behind a stand-in login (request headers say who the caller
//! is), and a small cookie-keeping browser.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use http::StatusCode;
use http::request::Parts;
use keygate_client::Client;
use keygate_console::{Action, Console, Scope};
use keygate_emulator::Emulator;
use keygate_types::{OrganizationId, UserId};
use reqwest::header::{COOKIE, SET_COOKIE};

/// The stand-in login (`None`: not signed in): `x-org` (required), `x-user`, `x-actions`
/// (comma-separated: create, roll, revoke; view is implied), `x-grant`.
fn resolve(parts: &Parts) -> Option<Scope> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let org = header("x-org")?;
    let mut scope = Scope::organization(OrganizationId::new_unchecked(org));
    if let Some(user) = header("x-user") {
        scope = scope.user(UserId::new_unchecked(user));
    }
    if header("x-members").is_some() {
        scope = scope.members();
    }
    for action in header("x-actions").unwrap_or_default().split(',') {
        scope = match action.trim() {
            "create" => scope.allow(Action::Create),
            "roll" => scope.allow(Action::Roll),
            "revoke" => scope.allow(Action::Revoke),
            _ => scope,
        };
    }
    let grant = header("x-grant").unwrap_or_default();
    Some(scope.grantable(grant.split(',').filter(|s| !s.is_empty())))
}

/// An emulator, the console in front of it, and a client of the emulator.
pub struct Harness {
    pub emu: Emulator,
    pub client: Client,
    /// `http://127.0.0.1:PORT/console`.
    pub console: String,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::with_policy(keygate_types::KeyPolicy::default()).await
    }

    /// The console with a key policy.
    pub async fn with_policy(policy: keygate_types::KeyPolicy) -> Harness {
        let emu = Emulator::builder()
            .organization_permissions(["posts:read", "posts:write", "admin"])
            .user_permissions(["posts:read", "posts:write"])
            .permission("posts:read", "Read posts", Some("See every post."))
            .permission("posts:write", "Write posts", None)
            .start()
            .await
            .expect("the emulator starts");
        let client = Client::builder()
            .secret(emu.secret().clone())
            .base_url(emu.base_url())
            .timeout(Duration::from_secs(5))
            .max_retries(0)
            .build()
            .expect("a client");
        let console = Console::new(client.clone(), |parts: &Parts| {
            let scope = resolve(parts);
            async move {
                scope.ok_or_else(|| (StatusCode::UNAUTHORIZED, "sign in first").into_response())
            }
        })
        .secure_cookies(false)
        .key_policy(policy);
        let app = Router::new().nest("/console", console.router());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(axum::serve(listener, app).into_future());
        Harness {
            emu,
            client,
            console: format!("http://{addr}/console"),
        }
    }

    /// Whether `value` is a valid key right now, per the key service.
    pub async fn valid(&self, value: &str) -> bool {
        self.client
            .validate_api_key(value)
            .await
            .expect("the emulator answers")
            .is_some()
    }
}

/// A browser stand-in: keeps cookies, never follows redirects on its own,
/// sends the caller's identity headers.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub identity: Vec<(&'static str, String)>,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(harness: &Harness, org: &str, actions: &str, grant: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            base: harness.console.clone(),
            identity: vec![
                ("x-org", org.to_owned()),
                ("x-actions", actions.to_owned()),
                ("x-grant", grant.to_owned()),
            ],
            cookies: BTreeMap::new(),
        }
    }

    /// An organization admin's view of every member's keys.
    pub fn for_members(mut self) -> Browser {
        self.identity.push(("x-members", "1".to_owned()));
        self
    }

    pub fn for_user(mut self, user: &str) -> Browser {
        self.identity.push(("x-user", user.to_owned()));
        self
    }

    /// A request to `path` under the console, with identity and cookies.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method, url);
        for (name, value) in &self.identity {
            request = request.header(*name, value);
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header(COOKIE, jar.join("; "));
        }
        request
    }

    /// Sends, keeping the cookies the answer sets.
    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let response = request.send().await.expect("the console answers");
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().expect("an ASCII cookie");
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    /// GETs the page (which sets the CSRF cookie) and answers its body.
    pub async fn page(&mut self) -> (StatusCode, String) {
        let request = self.request(reqwest::Method::GET, "");
        let response = self.send(request).await;
        let status = response.status();
        (status, response.text().await.expect("a body"))
    }

    /// The CSRF token, once a page was fetched.
    pub fn token(&self) -> String {
        self.cookies
            .get("keygate_csrf")
            .cloned()
            .expect("a page set the CSRF cookie")
    }

    /// A JSON call with the CSRF header.
    pub async fn json(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        if !self.cookies.contains_key("keygate_csrf") {
            self.page().await;
        }
        let mut request = self
            .request(method, &format!("/api{path}"))
            .header("x-csrf-token", self.token());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = self.send(request).await;
        let status = response.status();
        let text = response.text().await.expect("a body");
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON ({e}): {text}"))
        };
        (status, json)
    }

    /// A form post with the CSRF field (unless `fields` has its own).
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        if !self.cookies.contains_key("keygate_csrf") {
            self.page().await;
        }
        let token = self.token();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if !fields.iter().any(|(k, _)| *k == "csrf_token") {
            all.push(("csrf_token", &token));
        }
        let body = all
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of the `<input id="reveal-value" … value="…">` on a page.
pub fn revealed_value(page: &str) -> Option<String> {
    let at = page.find("id=\"reveal-value\"")?;
    let rest = &page[at..];
    let start = rest.find("value=\"")? + "value=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_owned())
}
