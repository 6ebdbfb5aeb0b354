//! The key console in headless Chromium, as `keygate serve` mounts it: the
//! login with the environment secret, then every organization's keys.
//!
//! One session with JavaScript on: log in, create a key and read its value
//! from the dialog, use it on a keygate-protected route (200); roll it with
//! a 2 s grace (both keys work, then the old one gets 401); revoke the new
//! one (401 within the layer's bound: `positive_ttl` of 1 s, nothing else
//! invalidates); reload (the value is not shown again). One session with
//! JavaScript off: the same create, by plain form post. The whole run is
//! logged at TRACE and no line may hold a key value. Screenshots of the
//! list and the create dialog go to `target/console-screenshots/`.

mod support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use keygate::ApiKeyAuth;
use keygate::console::local::LocalConsole;
use reqwest::StatusCode;
use support::app::{self, Server};
use support::chromium::Chromium;
use support::trace_capture::{self, LeakCheck};

/// The layer's bound on a revoked key: a verdict is reused this long.
const POSITIVE_TTL: Duration = Duration::from_secs(1);

struct Site {
    server: Server,
    http: reqwest::Client,
    _emulator: keygate::emulator::Emulator,
    secret: String,
}

impl Site {
    async fn start() -> Site {
        let emulator = app::emulator().await;
        emulator.create_organization("Acme").expect("Acme");
        emulator.create_organization("Globex").expect("Globex");
        let client = app::client(emulator.base_url(), emulator.secret());
        let auth = ApiKeyAuth::builder(client.clone())
            .positive_ttl(POSITIVE_TTL)
            .negative_ttl(Duration::from_millis(200))
            .build();
        let router = LocalConsole::new(client, emulator.secret().clone())
            .grantable(["posts:read", "posts:write"])
            .router()
            .merge(app::whoami_router(auth));
        Site {
            server: Server::start(router).await,
            http: reqwest::Client::new(),
            secret: emulator.secret().expose_secret().to_owned(),
            _emulator: emulator,
        }
    }

    async fn whoami(&self, key: &str) -> StatusCode {
        self.http
            .get(self.server.url("/whoami"))
            .bearer_auth(key)
            .send()
            .await
            .expect("the app answers")
            .status()
    }

    /// How long until `key` gets 401, polling every 50 ms for at most `limit`.
    async fn until_refused(&self, key: &str, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.whoami(key).await == StatusCode::UNAUTHORIZED {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

async fn log_in(browser: &Chromium, site: &Site) {
    let c = &browser.client;
    c.goto(&site.server.url("/")).await.expect("the console");
    let secret = browser.wait_for("#secret").await;
    secret.send_keys(&site.secret).await.expect("typing");
    browser.click("form button[type=submit]").await;
    browser.wait_for("table.keys").await;
}

/// Opens "New key", fills the form and submits it.
async fn fill_create_form(browser: &Chromium, name: &str, permission: Option<&str>) {
    let c = &browser.client;
    browser.click("#create > summary").await;
    c.find(Locator::Css("#name"))
        .await
        .expect("the name field")
        .send_keys(name)
        .await
        .expect("typing");
    if let Some(permission) = permission {
        let tick = format!("input[name=permissions][value='{permission}']");
        browser.click(&tick).await;
    }
    browser.click("#create-form button[type=submit]").await;
}

/// The value in the created-key dialog, once it is open.
async fn dialog_value(browser: &Chromium) -> String {
    let input = browser
        .wait_for("#created-dialog[open] #created-value")
        .await;
    let value = input
        .prop("value")
        .await
        .expect("the value")
        .expect("a value");
    assert!(value.starts_with("sk_"), "a key value in the dialog");
    trace_capture::secret(&value)
}

async fn close_dialog(browser: &Chromium) {
    browser.click("#created-done").await;
    browser.wait_for("table.keys").await;
    // The dialog is closed after the reload.
    browser.wait_for("#created-dialog:not([open])").await;
}

async fn row_of(browser: &Chromium, name: &str) -> fantoccini::elements::Element {
    let css = format!("tr[data-key-name=\"{name}\"]");
    let rows = browser
        .client
        .find_all(Locator::Css(&css))
        .await
        .expect("rows");
    assert!(!rows.is_empty(), "a row for {name}");
    rows.into_iter().next().expect("a row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_creates_rolls_and_revokes_keys_that_the_layer_obeys() {
    let _leaks = LeakCheck::start();
    let started = Instant::now();
    let site = Site::start().await;
    let browser = Chromium::start(true).await;
    let c = &browser.client;
    let mut values = Vec::new();

    log_in(&browser, &site).await;
    let page = c.source().await.expect("the page");
    assert!(
        page.contains("Acme") && page.contains("Globex"),
        "the switcher"
    );

    // Create, with the value read from the dialog, shown once.
    fill_create_form(&browser, "browser CI", Some("posts:read")).await;
    let first = dialog_value(&browser).await;
    values.push(first.clone());
    browser.click("#created-dialog button.copy").await;
    let shot = browser.screenshot("create-dialog").await;
    println!("screenshot: {}", shot.display());
    assert_eq!(site.whoami(&first).await, StatusCode::OK);
    close_dialog(&browser).await;
    assert!(!c.source().await.expect("the page").contains(&first));

    // Roll with a 2 s grace: both keys work, then the old one is refused.
    let row = row_of(&browser, "browser CI").await;
    row.find(Locator::Css("details.action > summary"))
        .await
        .expect("Roll")
        .click()
        .await
        .expect("open roll");
    let grace = row
        .find(Locator::Css("input[name=grace_seconds]"))
        .await
        .expect("the grace field");
    grace.clear().await.expect("clear");
    grace.send_keys("2").await.expect("typing");
    row.find(Locator::Css("form.roll-form button[type=submit]"))
        .await
        .expect("Roll key")
        .click()
        .await
        .expect("roll");
    let rolled_at = Instant::now();
    let second = dialog_value(&browser).await;
    values.push(second.clone());
    assert_ne!(first, second);
    assert_eq!(
        site.whoami(&first).await,
        StatusCode::OK,
        "old key in its grace"
    );
    assert_eq!(site.whoami(&second).await, StatusCode::OK, "new key");
    let refused = site
        .until_refused(&first, Duration::from_secs(6))
        .await
        .expect("the old key is refused after its grace");
    let after_roll = rolled_at.elapsed();
    println!(
        "roll: old key refused {:.0} ms after the roll (grace 2 s; polled from {:.0} ms)",
        after_roll.as_secs_f64() * 1e3,
        (after_roll - refused).as_secs_f64() * 1e3
    );
    assert!(
        after_roll >= Duration::from_millis(1_500),
        "not before the grace"
    );
    assert!(after_roll <= Duration::from_millis(3_500), "soon after it");
    assert_eq!(site.whoami(&second).await, StatusCode::OK);
    close_dialog(&browser).await;
    let page = c.source().await.expect("the page");
    assert!(page.contains("status-expired") || page.contains("status-expiring"));
    let shot = browser.screenshot("list").await;
    println!("screenshot: {}", shot.display());

    // Revoke the new key, confirmed in the dialog: 401 within the TTL.
    let new_row = {
        let rows = c
            .find_all(Locator::Css("tr[data-key-name='browser CI']"))
            .await
            .expect("rows");
        let mut live = None;
        for row in rows {
            if row.find(Locator::Css(".status-active")).await.is_ok() {
                live = Some(row);
            }
        }
        live.expect("the new, active key's row")
    };
    new_row
        .find(Locator::Css("a.revoke"))
        .await
        .expect("Revoke")
        .click()
        .await
        .expect("ask");
    browser.wait_for("#revoke-dialog[open]").await;
    assert_eq!(site.whoami(&second).await, StatusCode::OK, "cached before");
    browser.click("#revoke-confirm").await;
    let revoked_at = Instant::now();
    let refused = site
        .until_refused(&second, POSITIVE_TTL + Duration::from_secs(2))
        .await
        .expect("the revoked key is refused");
    println!(
        "revoke: refused {:.0} ms after the click (bound: positive_ttl {} ms, no listener)",
        refused.as_secs_f64() * 1e3,
        POSITIVE_TTL.as_millis()
    );
    assert!(
        revoked_at.elapsed() <= POSITIVE_TTL + Duration::from_millis(700),
        "within the TTL plus a request's round trip"
    );

    // Reload: no value on the page, ever again.
    c.refresh().await.expect("reload");
    browser.wait_for("table.keys").await;
    let page = c.source().await.expect("the page");
    for value in &values {
        assert!(!page.contains(value.as_str()), "a value came back");
    }
    browser.close().await;

    // JavaScript off: the plain form post shows the value once, then never.
    let plain = Chromium::start(false).await;
    let c = &plain.client;
    log_in(&plain, &site).await;
    fill_create_form(&plain, "no script", None).await;
    let input = plain.wait_for("#reveal-dialog[open] #reveal-value").await;
    let third = trace_capture::secret(input.prop("value").await.unwrap().unwrap());
    values.push(third.clone());
    assert_eq!(site.whoami(&third).await, StatusCode::OK);
    let shot = plain.screenshot("created-without-javascript").await;
    println!("screenshot: {}", shot.display());
    c.refresh().await.expect("reload");
    plain.wait_for("table.keys").await;
    assert!(!c.source().await.unwrap().contains(&third));
    plain.close().await;

    // The capture was live: it holds the keys' ids, and (checked on drop)
    // none of the values.
    let log = String::from_utf8_lossy(&trace_capture::captured()).into_owned();
    assert!(log.contains("console created a key") && log.contains("api_key_"));
    let (bytes, lines) = trace_capture::captured_volume();
    println!(
        "trace: {lines} lines, {bytes} bytes, {} values checked; whole test {:.1} s",
        values.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Review item: after a create with JavaScript on, the list behind the
/// dialog still said "No keys yet" until a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_javascript_the_list_behind_the_dialog_shows_the_new_key_at_once() {
    let site = Site::start().await;
    let browser = Chromium::start(true).await;
    log_in(&browser, &site).await;
    assert!(
        browser
            .client
            .source()
            .await
            .unwrap()
            .contains("No keys yet."),
        "an empty list to begin with"
    );
    fill_create_form(&browser, "fresh list", None).await;
    let value = dialog_value(&browser).await;
    // The dialog is still open: the list behind it already has the key.
    browser.wait_for("tr[data-key-name='fresh list']").await;
    let page = browser.client.source().await.unwrap();
    assert!(!page.contains("No keys yet."), "the empty note is gone");
    let open = browser
        .client
        .find(Locator::Css("#created-dialog[open]"))
        .await;
    assert!(open.is_ok(), "the dialog stays open until Done");
    assert_eq!(site.whoami(&value).await, StatusCode::OK);
    browser.close().await;
}

/// Consoles behind fixed stand-in logins, one per path: an organization
/// admin (every member's keys), Ada managing her own keys, and two key
/// policies.
struct Consoles {
    server: Server,
    emulator: keygate::emulator::Emulator,
    client: keygate::Client,
    acme: keygate::types::OrganizationId,
}

impl Consoles {
    async fn start() -> (Consoles, keygate::types::UserId, keygate::types::UserId) {
        use keygate::console::{Console, Scope};
        use keygate::types::KeyPolicy;

        let emulator = keygate::emulator::Emulator::builder()
            .user_permissions(["posts:read", "posts:write"])
            .permission("posts:read", "Read posts", Some("See every post."))
            .permission("posts:write", "Write posts", Some("Create and edit posts."))
            .start()
            .await
            .expect("the emulator starts");
        let acme = emulator.create_organization("Acme").expect("Acme").id;
        let ada = emulator.create_user("ada@example.com").expect("Ada").id;
        let bob = emulator.create_user("bob@example.com").expect("Bob").id;
        for user in [&ada, &bob] {
            emulator.create_membership(user, &acme).expect("a member");
        }
        let client = app::client(emulator.base_url(), emulator.secret());
        let mount = |scope: Scope, policy: KeyPolicy| {
            Console::new(client.clone(), move |_: &http::request::Parts| {
                let scope = scope.clone();
                async move { Ok::<_, axum::response::Response>(scope) }
            })
            .secure_cookies(false)
            .key_policy(policy)
            .router()
        };
        let grant = ["posts:read", "posts:write"];
        let org = || {
            Scope::organization(acme.clone())
                .allow_all()
                .grantable(grant)
        };
        let router = axum::Router::new()
            .nest("/admin", mount(org().members(), KeyPolicy::new()))
            .nest("/ada", mount(org().user(ada.clone()), KeyPolicy::new()))
            .nest(
                "/policy",
                mount(
                    org(),
                    KeyPolicy::new()
                        .require_expiry()
                        .max_lifetime(std::time::Duration::from_secs(30 * 24 * 60 * 60)),
                ),
            )
            .nest("/capped", mount(org(), KeyPolicy::new().max_active_keys(1)));
        let consoles = Consoles {
            server: Server::start(router).await,
            emulator,
            client,
            acme,
        };
        (consoles, ada, bob)
    }

    async fn valid(&self, value: &str) -> bool {
        self.client
            .validate_api_key(value)
            .await
            .expect("the emulator answers")
            .is_some()
    }
}

/// The text of the element `css` finds, shown or not (a closed
/// `<details>` hides its content from WebDriver's visible text).
async fn text_of(browser: &Chromium, css: &str) -> String {
    let element = browser.wait_for(css).await;
    let text = element.prop("textContent").await.expect("its text");
    text.unwrap_or_default().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_an_admin_revokes_a_members_key_members_see_only_their_own_and_policies_refuse_clearly()
 {
    let (site, ada, bob) = Consoles::start().await;
    let emu = &site.emulator;
    for javascript in [true, false] {
        let round = if javascript { "js" } else { "plain" };
        let adas = emu
            .create_user_key(
                &ada,
                &site.acme,
                &format!("ada laptop {round}"),
                &["posts:read"],
            )
            .expect("Ada's key");
        let bobs = emu
            .create_user_key(&bob, &site.acme, &format!("bob CI {round}"), &[])
            .expect("Bob's key");
        let browser = Chromium::start(javascript).await;
        let c = &browser.client;

        // The admin sees every member's keys with their owners, and no way
        // to make one for them.
        c.goto(&site.server.url("/admin"))
            .await
            .expect("the admin page");
        let bob_row = format!("tr[data-key-name='bob CI {round}']");
        let owner = text_of(&browser, &format!("{bob_row} td.owner")).await;
        assert_eq!(owner, "bob@example.com", "{round}");
        assert_eq!(
            text_of(
                &browser,
                &format!("tr[data-key-name='ada laptop {round}'] td.owner")
            )
            .await,
            "ada@example.com"
        );
        let page = c.source().await.expect("the page");
        assert!(
            !page.contains("id=\"create-form\"") && !page.contains("roll-form"),
            "{round}"
        );

        // The admin revokes Bob's key: with script in the dialog, without
        // on the confirmation page.
        browser.click(&format!("{bob_row} a.revoke")).await;
        if javascript {
            browser.wait_for("#revoke-dialog[open]").await;
            browser.click("#revoke-confirm").await;
        } else {
            browser.wait_for("section.confirm form").await;
            browser.click("section.confirm button[type=submit]").await;
        }
        browser.wait_for("table.keys").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while site.valid(bobs.value.expose_secret()).await {
            assert!(
                Instant::now() < deadline,
                "{round}: Bob's key was not revoked"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            site.valid(adas.value.expose_secret()).await,
            "{round}: Ada's key stays"
        );

        // Ada, managing her own keys, sees hers and nobody else's; her
        // checklist names each permission.
        let others = emu
            .create_user_key(&bob, &site.acme, &format!("bob other {round}"), &[])
            .expect("another of Bob's keys");
        c.goto(&site.server.url("/ada")).await.expect("Ada's page");
        browser
            .wait_for(&format!("tr[data-key-name='ada laptop {round}']"))
            .await;
        let page = c.source().await.expect("the page");
        assert!(
            !page.contains("bob other") && !page.contains("bob@example.com"),
            "{round}"
        );
        assert!(
            page.contains("<span class=\"perm-name\">Read posts</span> <code>posts:read</code> <span class=\"perm-description muted\">See every post.</span>"),
            "{round}: labels"
        );
        assert!(
            page.contains("title=\"Read posts: See every post.\""),
            "{round}"
        );
        emu.delete_api_key(others.id.as_str()).expect("cleanup");

        // Policies: each refusal with its own message, beside the form.
        c.goto(&site.server.url("/policy"))
            .await
            .expect("the policy page");
        assert_eq!(
            text_of(&browser, "#policy-note").await,
            "Here, keys expire within 30 days."
        );
        fill_create_form(&browser, &format!("no expiry {round}"), None).await;
        let refusal = "Keys here must expire: give the key an expiry.";
        browser.wait_for("#create-problem:not([hidden])").await;
        assert_eq!(
            text_of(&browser, "#create-problem").await,
            refusal,
            "{round}"
        );
        assert_eq!(
            text_of(&browser, "[data-problem-for=expires_at]").await,
            refusal,
            "{round}"
        );
        if javascript {
            // A datetime-local field is typed per locale; set it directly.
            let now = keygate::types::Timestamp::now().unix_timestamp();
            let late = keygate::types::Timestamp::from_unix_timestamp(now + 40 * 24 * 60 * 60)
                .expect("a time")
                .to_string();
            c.execute(
                "document.getElementById('expires_at').value = arguments[0].slice(0, 16);",
                vec![serde_json::json!(late)],
            )
            .await
            .expect("set the expiry");
            browser.click("#create-form button[type=submit]").await;
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let text = text_of(&browser, "#create-problem").await;
                if text.contains("30 days") {
                    assert_eq!(
                        text,
                        "Keys here may live at most 30 days: choose an earlier expiry."
                    );
                    break;
                }
                assert!(Instant::now() < deadline, "no lifetime refusal: {text}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        c.goto(&site.server.url("/capped"))
            .await
            .expect("the capped page");
        let existing = emu
            .create_organization_key(&site.acme, &format!("only one {round}"), &[])
            .expect("a key");
        c.refresh().await.expect("reload");
        browser.wait_for("table.keys").await;
        fill_create_form(&browser, &format!("one too many {round}"), None).await;
        browser.wait_for("#create-problem:not([hidden])").await;
        assert_eq!(
            text_of(&browser, "#create-problem").await,
            "You already have 1 active key, the most allowed: revoke one first.",
            "{round}"
        );
        emu.delete_api_key(existing.id.as_str()).expect("cleanup");
        let shot = browser.screenshot(&format!("policy-refusal-{round}")).await;
        println!("screenshot: {}", shot.display());
        browser.close().await;
    }
}
