//! A login with one shared secret, for local development: `keygate serve`
//! puts the console behind its environment secret with it.
//!
//! The secret is compared in constant time; a successful login sets a
//! random session id in an `HttpOnly; SameSite=Strict` cookie; the form
//! carries the console's CSRF token like every other form. Sessions live in
//! memory until logout or restart. In your app, use your own login instead.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::header::SET_COOKIE;
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use keygate_types::{SecretString, constant_time_eq};

use crate::cookie::{CookiePolicy, is_token, random_token};
use crate::csrf;
use crate::form::FormFields;
use crate::headers;

const SESSION_COOKIE: &str = "keygate_session";
/// What a refused CSRF token gets told.
const STALE: &str = "The form was stale: try again.";
/// Sessions kept at most; the oldest logins beyond are signed out.
const MAX_SESSIONS: usize = 1024;

/// A login form at `/login` that accepts one secret.
///
/// ```
/// use keygate_console::login::SecretLogin;
///
/// let login = SecretLogin::new("sk_test_local_secret").secure_cookies(false);
/// let app: axum::Router = login.router(); // GET/POST /login, POST /logout
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct SecretLogin {
    secret: Arc<SecretString>,
    /// Shared by every clone: the resolver's copy sees the router's logins.
    sessions: Arc<Mutex<Vec<String>>>,
    cookies: CookiePolicy,
    console_path: String,
}

impl fmt::Debug for SecretLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretLogin")
            .field("secret", &self.secret)
            .field("console_path", &self.console_path)
            .finish_non_exhaustive()
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTemplate {
    base: String,
    csrf: String,
    login_path: &'static str,
    problem: &'static str,
}

impl SecretLogin {
    /// A login accepting `secret`; after it, the browser goes to the console
    /// at `/` (see [`console_path`](Self::console_path)).
    pub fn new(secret: impl Into<SecretString>) -> Self {
        Self {
            secret: Arc::new(secret.into()),
            sessions: Arc::default(),
            cookies: CookiePolicy { secure: true },
            console_path: String::new(),
        }
    }

    /// `Secure` cookies with the `__Host-` prefix (the default); turn off
    /// only for plain HTTP on localhost.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.cookies = CookiePolicy { secure };
        self
    }

    /// Where the console is mounted (`/console`; the root by default): the
    /// login goes there after success, and uses its style sheet.
    pub fn console_path(mut self, path: impl Into<String>) -> Self {
        self.console_path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// Whether the request carries a live session.
    pub fn is_signed_in(&self, parts: &Parts) -> bool {
        match self.cookies.read(&parts.headers, SESSION_COOKIE) {
            Some(id) if is_token(id) => self
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|s| constant_time_eq(s.as_bytes(), id.as_bytes())),
            _ => false,
        }
    }

    /// `GET /login` (the form), `POST /login`, `POST /logout`, with the
    /// console's security headers.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/login", get(show).post(sign_in))
            .route("/logout", post(sign_out))
            .with_state(self.clone())
            .layer(axum::middleware::map_response(headers::secure))
    }

    /// The posted form, if its CSRF token is right.
    fn posted(&self, headers: &HeaderMap, body: &[u8]) -> Option<FormFields> {
        let form = FormFields::parse(body);
        csrf::check(self.cookies, headers, form.get(csrf::FIELD)).ok()?;
        Some(form)
    }

    fn form(&self, headers: &HeaderMap, status: StatusCode, problem: &'static str) -> Response {
        let (csrf, cookie) = csrf::page_token(self.cookies, headers);
        let page = LoginTemplate {
            base: self.console_path.clone(),
            csrf,
            login_path: "/login",
            problem,
        };
        let mut response = match page.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        if let Some(cookie) = cookie {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
        response
    }
}

async fn show(State(login): State<SecretLogin>, headers: HeaderMap) -> Response {
    login.form(&headers, StatusCode::OK, "")
}

async fn sign_in(State(login): State<SecretLogin>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(form) = login.posted(&headers, &body) else {
        return login.form(&headers, StatusCode::FORBIDDEN, STALE);
    };
    let given = form.get("secret").unwrap_or_default().trim();
    if !constant_time_eq(given.as_bytes(), login.secret.expose_secret().as_bytes()) {
        tracing::info!("console login refused: wrong secret");
        return login.form(&headers, StatusCode::UNAUTHORIZED, "Wrong secret.");
    }
    let id = random_token();
    {
        let mut sessions = login
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if sessions.len() >= MAX_SESSIONS {
            sessions.remove(0);
        }
        sessions.push(id.clone());
    }
    tracing::info!("console login");
    let mut response = Redirect::to(&crate::caller::page_url(&login.console_path)).into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, login.cookies.set(SESSION_COOKIE, Some(&id)));
    response
}

async fn sign_out(State(login): State<SecretLogin>, headers: HeaderMap, body: Bytes) -> Response {
    if login.posted(&headers, &body).is_none() {
        return login.form(&headers, StatusCode::FORBIDDEN, STALE);
    }
    if let Some(id) = login.cookies.read(&headers, SESSION_COOKIE) {
        let ended: HashSet<&str> = [id].into();
        login
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|s| !ended.contains(s.as_str()));
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, login.cookies.set(SESSION_COOKIE, None));
    response
}
