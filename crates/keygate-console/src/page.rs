//! The server-rendered page and its plain form posts: everything works
//! with JavaScript off; `console.js` only makes it smoother.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, StatusCode};
use keygate_types::{CreatedApiKey, SecretString, Timestamp};

use crate::Shared;
use crate::api::Search;
use crate::caller::Caller;
use crate::csrf;
use crate::error::ConsoleError;
use crate::form::FormFields;
use crate::input::{self, NewKeyInput};
use crate::reveal::Reveal;
use crate::scope::Action;
use crate::view::{KeyRow, human, matches};

/// The cookie naming a value waiting in [`Reveals`](crate::reveal::Reveals).
const REVEAL_COOKIE: &str = "keygate_reveal";
/// The cookie remembering the organization picked in the switcher.
pub(crate) const ORGANIZATION_COOKIE: &str = "keygate_org";

#[derive(Debug)]
struct SwitchChoice {
    id: String,
    name: String,
    selected: bool,
}

#[derive(Debug)]
struct PermissionChoice {
    slug: String,
    /// The catalogue's name, or the slug when it has none.
    name: String,
    description: String,
    checked: bool,
}

/// The create form as it was sent, with its problems: kept on an error.
#[derive(Debug, Default)]
struct CreateForm {
    open: bool,
    name: String,
    expires_at: String,
    checked: Vec<String>,
    permissions: Vec<PermissionChoice>,
    problem: String,
    name_problem: String,
    permissions_problem: String,
    expires_problem: String,
}

#[derive(Debug)]
struct RevealView {
    title: String,
    note: String,
    value: SecretString,
}

#[derive(Template)]
#[template(path = "page.html")]
struct PageTemplate {
    base: String,
    page: String,
    csrf: String,
    organization: String,
    switcher: Vec<SwitchChoice>,
    problem: Option<String>,
    reveal: Option<RevealView>,
    query: String,
    can_create: bool,
    can_roll: bool,
    can_revoke: bool,
    create: CreateForm,
    rows: Vec<KeyRow>,
    /// A members scope: each row shows its owner.
    show_owner: bool,
    /// The key policy in a sentence, shown by the create form.
    policy_note: String,
    expiry_required: bool,
}

#[derive(Template)]
#[template(path = "revoke.html")]
struct RevokeTemplate {
    base: String,
    page: String,
    csrf: String,
    id: String,
    name: String,
    masked: String,
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemTemplate {
    base: String,
    page: String,
    csrf: String,
    title: String,
    message: String,
}

fn html(status: StatusCode, template: &impl Template, cookies: Vec<HeaderValue>) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            for cookie in cookies {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What a page render needs beyond the caller.
#[derive(Default)]
struct PageState {
    status: Option<StatusCode>,
    query: String,
    create: CreateForm,
    problem: Option<String>,
}

async fn render(
    shared: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    state: PageState,
) -> Response {
    let scope = &caller.scope;
    let (csrf, csrf_cookie) = csrf::page_token(shared.cookies, headers);
    let mut cookies: Vec<HeaderValue> = csrf_cookie.into_iter().collect();
    let mut problem = state.problem;
    let mut status = state.status.unwrap_or(StatusCode::OK);

    let reveal = match shared.cookies.read(headers, REVEAL_COOKIE) {
        Some(id) => {
            cookies.push(shared.cookies.set(REVEAL_COOKIE, None));
            shared.reveals.take(id, &scope.organization)
        }
        None => None,
    };
    let reveal = reveal.map(|r: Reveal| RevealView {
        title: format!("Your new key “{}”", r.name),
        note: r.note,
        value: r.value,
    });

    let now = Timestamp::now();
    let (listed, labels) = futures_util::future::join(
        shared.keys(scope).list_with_owners(),
        crate::catalogue::labels(&shared.client),
    )
    .await;
    let rows = match listed {
        Ok((found, owners)) => found
            .iter()
            .filter(|k| matches(&k.name, &state.query))
            .map(|k| KeyRow::new(k, now).described(k, &owners, &labels))
            .collect(),
        Err(error) => {
            if problem.is_none() {
                status = error.status();
                problem = Some(error.message().to_owned());
            }
            Vec::new()
        }
    };

    let mut create = state.create;
    create.permissions = scope
        .grantable
        .iter()
        .map(|slug| {
            let label = labels.get(slug);
            PermissionChoice {
                slug: slug.clone(),
                name: label.map_or_else(|| slug.clone(), |l| l.name.clone()),
                description: label.map(|l| l.description.clone()).unwrap_or_default(),
                checked: create.checked.contains(slug),
            }
        })
        .collect();
    let page = PageTemplate {
        base: caller.base.clone(),
        page: caller.page(),
        csrf,
        organization: scope
            .organization_name
            .clone()
            .unwrap_or_else(|| scope.organization.to_string()),
        switcher: scope
            .switcher
            .iter()
            .map(|c| SwitchChoice {
                id: c.id.to_string(),
                name: c.name.clone(),
                selected: c.id == scope.organization,
            })
            .collect(),
        problem,
        reveal,
        query: state.query,
        can_create: scope.may(Action::Create),
        can_roll: scope.may(Action::Roll),
        can_revoke: scope.may(Action::Revoke),
        create,
        rows,
        show_owner: scope.is_members(),
        policy_note: policy_note(&shared.policy),
        expiry_required: shared.policy.expiry_required() || shared.policy.lifetime_cap().is_some(),
    };
    html(status, &page, cookies)
}

/// The key policy as the create form states it; empty without rules.
fn policy_note(policy: &keygate_types::KeyPolicy) -> String {
    let mut rules = Vec::new();
    if let Some(max) = policy.lifetime_cap() {
        let days = max.as_secs() / (24 * 60 * 60);
        rules.push(if days >= 1 {
            format!(
                "keys expire within {days} day{}",
                if days == 1 { "" } else { "s" }
            )
        } else {
            format!("keys expire within {} seconds", max.as_secs())
        });
    } else if policy.expiry_required() {
        rules.push("keys must have an expiry".to_owned());
    }
    if let Some(max) = policy.active_keys_cap() {
        rules.push(format!("at most {max} active keys each"));
    }
    if rules.is_empty() {
        String::new()
    } else {
        format!("Here, {}.", rules.join("; "))
    }
}

/// A page that only says what went wrong, with a way back.
fn problem_page(
    shared: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    error: &ConsoleError,
) -> Response {
    let (csrf, cookie) = csrf::page_token(shared.cookies, headers);
    let title = match error.status() {
        StatusCode::NOT_FOUND => "No such key",
        StatusCode::FORBIDDEN => "Not allowed",
        _ => "That did not work",
    };
    let page = ProblemTemplate {
        base: caller.base.clone(),
        page: caller.page(),
        csrf,
        title: title.into(),
        message: error.message().into(),
    };
    html(error.status(), &page, cookie.into_iter().collect())
}

/// Reads a posted form and checks its CSRF token, before anything else.
fn posted(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<FormFields, ConsoleError> {
    let form = FormFields::parse(body);
    csrf::check(shared.cookies, headers, form.get(csrf::FIELD))?;
    Ok(form)
}

/// After a change: back to the page with a GET, so a reload never re-posts.
fn back_to_page(caller: &Caller, cookie: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to(&caller.page()).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// `GET /`: the list, search, and the forms.
pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let query = search.q;
    render(
        &shared,
        &caller,
        &headers,
        PageState {
            query,
            ..PageState::default()
        },
    )
    .await
}

/// `POST /keys`: create; the value is shown once on the page it redirects to.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match posted(&shared, &headers, &body) {
        Ok(form) => form,
        Err(error) => return page_with_problem(&shared, &caller, &headers, &error).await,
    };
    let input = NewKeyInput {
        name: form.get("name").unwrap_or_default().to_owned(),
        permissions: form.all("permissions"),
        expires_at: form.get("expires_at").map(str::to_owned),
    };
    let keys = shared.keys(&caller.scope);
    let outcome = async {
        keys.require(Action::Create, "create")?;
        let new = input.check(&caller.scope, Timestamp::now())?;
        keys.create(new).await
    }
    .await;
    match outcome {
        Ok(created) => reveal(
            &shared,
            &caller,
            &created,
            "Send it in the Authorization header: Bearer <key>.".into(),
        ),
        Err(error) => {
            // The form comes back as it was sent, with what was wrong.
            let problem = |field| error.problem_with(field).unwrap_or_default().to_owned();
            let create = CreateForm {
                open: true,
                name: input.name.clone(),
                expires_at: input.expires_at.clone().unwrap_or_default(),
                checked: input.permissions.clone(),
                problem: error.message().to_owned(),
                name_problem: problem("name"),
                permissions_problem: problem("permissions"),
                expires_problem: problem("expires_at"),
                permissions: Vec::new(),
            };
            let state = PageState {
                status: Some(error.status()),
                create,
                ..PageState::default()
            };
            render(&shared, &caller, &headers, state).await
        }
    }
}

/// Keeps a new value for the next page view, and sends the browser there.
fn reveal(shared: &Shared, caller: &Caller, created: &CreatedApiKey, note: String) -> Response {
    let id = shared.reveals.put(Reveal {
        organization: caller.scope.organization.clone(),
        name: created.name.clone(),
        value: created.value.clone(),
        note,
    });
    back_to_page(caller, Some(shared.cookies.set(REVEAL_COOKIE, Some(&id))))
}

/// A form post's answer: its own on success, else the page with what went wrong.
async fn settle(
    shared: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    outcome: Result<Response, ConsoleError>,
) -> Response {
    match outcome {
        Ok(response) => response,
        Err(error) => page_with_problem(shared, caller, headers, &error).await,
    }
}

/// `POST /keys/{id}/roll` with `grace_seconds`.
pub(crate) async fn roll(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = async {
        let form = posted(&shared, &headers, &body)?;
        let grace = input::grace(form.get("grace_seconds").unwrap_or_default())?;
        let rolled = shared.keys(&caller.scope).roll(&id, grace).await?;
        let until = rolled
            .previous
            .expires_at
            .map_or_else(|| "now".to_owned(), human);
        let note = format!("Rolled: the old key works until {until}.");
        Ok(reveal(&shared, &caller, &rolled.created, note))
    }
    .await;
    settle(&shared, &caller, &headers, outcome).await
}

async fn page_with_problem(
    shared: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    error: &ConsoleError,
) -> Response {
    let state = PageState {
        status: Some(error.status()),
        problem: Some(error.message().to_owned()),
        ..PageState::default()
    };
    render(shared, caller, headers, state).await
}

/// `GET /keys/{id}/revoke`: the confirmation.
pub(crate) async fn confirm_revoke(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let keys = shared.keys(&caller.scope);
    let found = async {
        keys.require(Action::Revoke, "revoke")?;
        keys.find(&id).await
    }
    .await;
    match found {
        Ok(key) => {
            let (csrf, cookie) = csrf::page_token(shared.cookies, &headers);
            let page = RevokeTemplate {
                base: caller.base.clone(),
                page: caller.page(),
                csrf,
                id: key.id.to_string(),
                name: key.name,
                masked: key.obfuscated_value,
            };
            html(StatusCode::OK, &page, cookie.into_iter().collect())
        }
        Err(error) => problem_page(&shared, &caller, &headers, &error),
    }
}

/// `POST /keys/{id}/revoke`.
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = async {
        posted(&shared, &headers, &body)?;
        shared.keys(&caller.scope).revoke(&id).await?;
        Ok(back_to_page(&caller, None))
    }
    .await;
    settle(&shared, &caller, &headers, outcome).await
}

/// `POST /keys/{id}/expiry` with `change=schedule` and `expires_at`, or
/// `change=clear`.
pub(crate) async fn expiry(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = async {
        let form = posted(&shared, &headers, &body)?;
        let at = match form.get("change") {
            Some("clear") => None,
            _ => Some(
                input::expiry(form.get("expires_at").unwrap_or_default(), Timestamp::now())
                    .map_err(|problem| ConsoleError::invalid(vec![problem]))?,
            ),
        };
        shared.keys(&caller.scope).set_expiry(&id, at).await?;
        Ok(back_to_page(&caller, None))
    }
    .await;
    settle(&shared, &caller, &headers, outcome).await
}

/// `POST /organization` with `organization`: switch to one of the scope's
/// choices (400 for any other).
pub(crate) async fn switch(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = async {
        let form = posted(&shared, &headers, &body)?;
        let wanted = form.get("organization").unwrap_or_default();
        let choice = caller
            .scope
            .switcher
            .iter()
            .find(|c| c.id.as_str() == wanted)
            .ok_or_else(|| ConsoleError::bad_request("You cannot switch to that organization."))?;
        let cookie = shared
            .cookies
            .set(ORGANIZATION_COOKIE, Some(choice.id.as_str()));
        Ok(back_to_page(&caller, Some(cookie)))
    }
    .await;
    settle(&shared, &caller, &headers, outcome).await
}
