//! The JSON API end to end, over real sockets against the emulator: every
//! action, every refusal, CSRF, and organization isolation.

mod support;

use std::time::Duration;

use http::StatusCode;
use keygate_emulator::Fault;
use reqwest::Method;
use serde_json::json;
use support::{Browser, Harness};

const ALL: &str = "create,roll,revoke";
const GRANT: &str = "posts:read,posts:write";

async fn create(browser: &mut Browser, name: &str, permissions: &[&str]) -> (String, String) {
    let (status, body) = browser
        .json(
            Method::POST,
            "/keys",
            Some(json!({"name": name, "permissions": permissions})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["key"]["id"].as_str().unwrap().to_owned(),
        body["value"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_created_key_is_answered_with_its_value_once_and_validates() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);

    let (status, body) = browser
        .json(
            Method::POST,
            "/keys",
            Some(json!({"name": "  CI deploys ", "permissions": ["posts:read"], "expires_at": "2099-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let value = body["value"].as_str().unwrap();
    assert!(value.starts_with("sk_"));
    assert_eq!(body["key"]["name"], "CI deploys");
    assert_eq!(body["key"]["permissions"], json!(["posts:read"]));
    assert_eq!(body["key"]["status"], "active");
    assert_eq!(body["key"]["expires_at"], "2099-01-01T00:00:00.000Z");
    assert!(h.valid(value).await);

    // The list shows it masked; no answer but the create ever holds the value.
    let (status, list) = browser.json(Method::GET, "/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(value));
    assert!(
        list["data"][0]["obfuscated_value"]
            .as_str()
            .unwrap()
            .ends_with(&value[value.len() - 4..])
    );
}

#[tokio::test]
async fn the_list_searches_by_name_and_shows_status() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    create(&mut browser, "CI deploys", &[]).await;
    create(&mut browser, "Laptop", &["posts:read"]).await;
    let (expiring, _) = create(&mut browser, "Staging CI", &[]).await;
    let soon =
        (keygate_types::Timestamp::now().saturating_add(time::Duration::hours(1))).to_string();
    let (status, _) = browser
        .json(
            Method::PUT,
            &format!("/keys/{expiring}/expiry"),
            Some(json!({"expires_at": soon})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, found) = browser.json(Method::GET, "/keys?q=ci", None).await;
    let mut names: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["CI deploys", "Staging CI"]);
    let statuses: Vec<(&str, &str)> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["name"].as_str().unwrap(), k["status"].as_str().unwrap()))
        .collect();
    assert!(statuses.contains(&("Staging CI", "expiring")));
    assert!(statuses.contains(&("CI deploys", "active")));
}

#[tokio::test]
async fn bad_create_requests_get_the_right_status_and_say_what_was_wrong() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let cases = [
        (
            json!({"name": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(("name", "required")),
        ),
        (
            json!({"name": "x", "permissions": ["Not A Slug"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(("permissions", "invalid_permission")),
        ),
        (
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(("expires_at", "in_the_past")),
        ),
        (
            json!({"name": "x", "expires_at": "tomorrow"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(("expires_at", "invalid_timestamp")),
        ),
        (
            json!({"name": "x", "permissions": ["admin"]}),
            StatusCode::FORBIDDEN,
            "permission_not_grantable",
            None,
        ),
        (
            json!({"name": "x", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            None,
        ),
        (
            json!(["not", "an", "object"]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let (got, answer) = browser
            .json(Method::POST, "/keys", Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["code"], code, "{body} -> {answer}");
        assert!(!answer["message"].as_str().unwrap().is_empty());
        if let Some((field, code)) = field {
            assert_eq!(answer["errors"][0]["field"], field, "{answer}");
            assert_eq!(answer["errors"][0]["code"], code, "{answer}");
        }
    }
    // Nothing was created by any of them.
    let (_, list) = browser.json(Method::GET, "/keys", None).await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn each_action_needs_the_scope_to_allow_it() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let key = h
        .emu
        .create_organization_key(&org.id, "CI", &["posts:read"])
        .unwrap();
    let mut viewer = Browser::new(&h, org.id.as_str(), "", GRANT);
    let id = key.id.as_str();
    let (status, body) = viewer
        .json(Method::POST, "/keys", Some(json!({"name": "x"})))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("action_not_allowed"))
    );
    let (status, _) = viewer
        .json(
            Method::POST,
            &format!("/keys/{id}/roll"),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer
        .json(Method::DELETE, &format!("/keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer
        .json(
            Method::PUT,
            &format!("/keys/{id}/expiry"),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A viewer still sees the list.
    let (status, list) = viewer.json(Method::GET, "/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"][0]["id"], id);
    assert!(h.valid(key.value.expose_secret()).await);
}

#[tokio::test]
async fn state_changes_without_the_csrf_token_are_refused() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let key = h.emu.create_organization_key(&org.id, "CI", &[]).unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    browser.page().await;
    let id = key.id.as_str();

    let attempts = [
        (Method::POST, "/api/keys".to_owned(), json!({"name": "x"})),
        (
            Method::POST,
            format!("/api/keys/{id}/roll"),
            json!({"grace_seconds": 0}),
        ),
        (Method::DELETE, format!("/api/keys/{id}"), json!({})),
        (
            Method::PUT,
            format!("/api/keys/{id}/expiry"),
            json!({"expires_at": null}),
        ),
    ];
    for (method, path, body) in attempts {
        // No header; a wrong header; the right header from another site.
        let none = browser.request(method.clone(), &path).json(&body);
        let wrong = browser
            .request(method.clone(), &path)
            .header("x-csrf-token", "0".repeat(64))
            .json(&body);
        let cross = browser
            .request(method.clone(), &path)
            .header("x-csrf-token", browser.token())
            .header("sec-fetch-site", "cross-site")
            .json(&body);
        for request in [none, wrong, cross] {
            let response = browser.send(request).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], "csrf_token_invalid");
        }
    }
    // Without the cookie, the header alone is not enough either.
    let token = browser.token();
    browser.cookies.clear();
    let bare = browser
        .request(Method::DELETE, &format!("/api/keys/{id}"))
        .header("x-csrf-token", token);
    assert_eq!(browser.send(bare).await.status(), StatusCode::FORBIDDEN);

    assert!(h.valid(key.value.expose_secret()).await, "nothing happened");
    let (_, list) = browser.json(Method::GET, "/keys", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_roll_gives_a_new_key_and_the_old_one_works_until_the_grace_ends() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let (old_id, old_value) = create(&mut browser, "CI", &["posts:read", "posts:write"]).await;

    let (status, body) = browser
        .json(
            Method::POST,
            &format!("/keys/{old_id}/roll"),
            Some(json!({"grace_seconds": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let new_value = body["value"].as_str().unwrap().to_owned();
    assert_ne!(body["key"]["id"], old_id.as_str());
    assert_eq!(body["key"]["name"], "CI");
    assert_eq!(
        body["key"]["permissions"],
        json!(["posts:read", "posts:write"])
    );
    assert_eq!(body["previous"]["id"], old_id.as_str());
    assert_eq!(body["previous"]["status"], "expiring");

    assert!(
        h.valid(&old_value).await && h.valid(&new_value).await,
        "both work in the grace"
    );
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert!(!h.valid(&old_value).await, "the old one expired");
    assert!(h.valid(&new_value).await);

    // An expired key cannot be rolled again; a bad grace is a 422.
    let (status, body) = browser
        .json(
            Method::POST,
            &format!("/keys/{old_id}/roll"),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("api_key_already_expired"))
    );
    let new_id = {
        let (_, list) = browser.json(Method::GET, "/keys?q=CI", None).await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["status"] == "active")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for grace in [json!(-1), json!(2_592_001), json!("soon"), json!(null)] {
        let (status, body) = browser
            .json(
                Method::POST,
                &format!("/keys/{new_id}/roll"),
                Some(json!({"grace_seconds": grace})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{grace}: {body}");
        assert_eq!(body["errors"][0]["field"], "grace_seconds");
    }
}

#[tokio::test]
async fn a_key_with_permissions_the_caller_may_not_grant_cannot_be_rolled() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let admin = h
        .emu
        .create_organization_key(&org.id, "admin", &["admin"])
        .unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let (status, body) = browser
        .json(
            Method::POST,
            &format!("/keys/{}/roll", admin.id),
            Some(json!({"grace_seconds": 60})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("permission_not_grantable"))
    );
    let (_, list) = browser.json(Method::GET, "/keys", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "no new key");
}

#[tokio::test]
async fn a_revoked_key_stops_validating_and_is_then_absent() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let (id, value) = create(&mut browser, "CI", &[]).await;
    let (status, body) = browser
        .json(Method::DELETE, &format!("/keys/{id}"), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    );
    assert!(!h.valid(&value).await);
    let (status, body) = browser
        .json(Method::DELETE, &format!("/keys/{id}"), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = browser.json(Method::DELETE, "/keys/not-an-id", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_expiry_is_scheduled_and_cleared_and_never_set_in_the_past() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let (id, value) = create(&mut browser, "CI", &[]).await;
    let path = format!("/keys/{id}/expiry");

    let (status, key) = browser
        .json(
            Method::PUT,
            &path,
            Some(json!({"expires_at": "2099-06-01T12:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    assert_eq!(key["expires_at"], "2099-06-01T12:00:00.000Z");
    let (status, key) = browser
        .json(Method::PUT, &path, Some(json!({"expires_at": null})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(key["expires_at"], serde_json::Value::Null);

    let (status, body) = browser
        .json(
            Method::PUT,
            &path,
            Some(json!({"expires_at": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["code"], "in_the_past");
    let (status, body) = browser.json(Method::PUT, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["code"], "required");
    let (status, _) = browser
        .json(Method::PUT, &path, Some(json!({"expires_at": 5})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(h.valid(&value).await);
}

#[tokio::test]
async fn a_caller_of_one_organization_cannot_see_roll_or_revoke_another_organizations_key() {
    let h = Harness::start().await;
    let a = h.emu.create_organization("Acme").unwrap();
    let b = h.emu.create_organization("Globex").unwrap();
    let theirs = h
        .emu
        .create_organization_key(&b.id, "Globex CI", &["posts:read"])
        .unwrap();
    let mut acme = Browser::new(&h, a.id.as_str(), ALL, GRANT);
    let id = theirs.id.as_str();

    let (_, list) = acme.json(Method::GET, "/keys", None).await;
    assert_eq!(list["data"], json!([]));
    let (_, list) = acme.json(Method::GET, "/keys?q=Globex", None).await;
    assert_eq!(list["data"], json!([]));

    let attempts = [
        (
            Method::POST,
            format!("/keys/{id}/roll"),
            Some(json!({"grace_seconds": 0})),
        ),
        (Method::DELETE, format!("/keys/{id}"), None),
        (
            Method::PUT,
            format!("/keys/{id}/expiry"),
            Some(json!({"expires_at": null})),
        ),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = acme.json(method.clone(), &path, body).await;
        // Exactly what an id that never existed gets.
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            answer,
            json!({"code": "not_found", "message": "No such key."})
        );
    }
    let absent = "api_key_01HZX4V2C5QW8M0R6T9B3N7K1P";
    let (status, answer) = acme
        .json(Method::DELETE, &format!("/keys/{absent}"), None)
        .await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::NOT_FOUND,
            json!({"code": "not_found", "message": "No such key."})
        )
    );

    // Globex's key is untouched.
    assert!(h.valid(theirs.value.expose_secret()).await);
    let after = h.emu.api_key(id).unwrap();
    assert_eq!(after.expires_at, None);
    let mut globex = Browser::new(&h, b.id.as_str(), ALL, GRANT);
    let (_, list) = globex.json(Method::GET, "/keys", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_user_scope_sees_and_manages_only_that_users_keys() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let ada = h.emu.create_user("ada@acme.example").unwrap();
    let bob = h.emu.create_user("bob@acme.example").unwrap();
    h.emu.create_membership(&ada.id, &org.id).unwrap();
    h.emu.create_membership(&bob.id, &org.id).unwrap();
    let org_key = h
        .emu
        .create_organization_key(&org.id, "org CI", &[])
        .unwrap();
    let bobs = h
        .emu
        .create_user_key(&bob.id, &org.id, "bob laptop", &[])
        .unwrap();
    let mut as_ada = Browser::new(&h, org.id.as_str(), ALL, GRANT).for_user(ada.id.as_str());

    let (id, value) = create(&mut as_ada, "ada laptop", &["posts:read"]).await;
    let (_, list) = as_ada.json(Method::GET, "/keys", None).await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
    assert_eq!(list["data"][0]["owner"]["type"], "user");
    assert_eq!(list["data"][0]["owner"]["id"], ada.id.as_str());

    for other in [org_key.id.as_str(), bobs.id.as_str()] {
        let (status, _) = as_ada
            .json(Method::DELETE, &format!("/keys/{other}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // A roll keeps the owner: still ada's.
    let (status, rolled) = as_ada
        .json(
            Method::POST,
            &format!("/keys/{id}/roll"),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rolled}");
    assert_eq!(rolled["key"]["owner"]["id"], ada.id.as_str());
    assert!(
        !h.valid(&value).await,
        "zero grace expires the old key at once"
    );
    assert!(h.valid(bobs.value.expose_secret()).await);
}

#[tokio::test]
async fn a_key_service_failure_is_a_502_that_says_so() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    browser.page().await;
    h.emu.inject_fault(
        Fault::new("POST", "/organizations/{id}/api_keys")
            .status(500)
            .times(None),
    );
    let (status, body) = browser
        .json(Method::POST, "/keys", Some(json!({"name": "x"})))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("key_service_unavailable"))
    );
}

#[tokio::test]
async fn every_console_response_is_uncacheable_and_locked_down() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    browser.page().await;
    let token = browser.token();
    let requests = [
        browser.request(Method::GET, ""),
        browser.request(Method::GET, "/api/keys"),
        browser.request(Method::GET, "/assets/console.js"),
        browser.request(Method::GET, "/assets/console.css"),
        browser
            .request(Method::POST, "/api/keys")
            .header("x-csrf-token", &token)
            .json(&json!({"name": "x"})),
        browser
            .request(Method::POST, "/api/keys")
            .json(&json!({"name": "x"})),
        browser.request(
            Method::GET,
            "/keys/api_key_01HZX4V2C5QW8M0R6T9B3N7K1P/revoke",
        ),
        // Refused by the app's own login (the resolver), too.
        h_unsigned(&browser),
    ];
    for request in requests {
        let response = browser.send(request).await;
        let headers = response.headers();
        let url = response.url().clone();
        assert_eq!(headers["cache-control"], "no-store", "{url}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{url}"
        );
        assert!(!csp.contains("unsafe-inline"), "{url}");
        assert_eq!(headers["x-frame-options"], "DENY", "{url}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{url}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{url}");
    }
}

fn h_unsigned(browser: &Browser) -> reqwest::RequestBuilder {
    browser.http.get(browser.base.clone())
}

#[tokio::test]
async fn the_page_has_no_inline_script_or_style() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    h.emu
        .create_organization_key(&org.id, "CI", &["posts:read"])
        .unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let (status, page) = browser.page().await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<script src=\"/console/assets/console.js\" defer></script>"));
    assert_eq!(page.matches("<script").count(), 1);
    assert!(
        !page.contains("<style") && !page.contains("style="),
        "no inline styles"
    );
    let handlers = page.match_indices(" on").filter(|(at, _)| {
        let rest = &page[at + 3..];
        let word = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        word > 0 && rest.as_bytes().get(word) == Some(&b'=')
    });
    assert_eq!(handlers.count(), 0, "no inline event handlers");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no asset from elsewhere"
    );
}

#[tokio::test]
async fn a_rolled_key_keeps_the_old_keys_lifetime_even_for_a_caller_who_may_not_change_expiries() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    // Create and roll, but not revoke: this caller cannot touch expiries.
    let mut browser = Browser::new(&h, org.id.as_str(), "create,roll", GRANT);
    let in_ten_days = keygate_types::Timestamp::now().saturating_add(time::Duration::days(10));
    let (status, body) = browser
        .json(
            Method::POST,
            "/keys",
            Some(json!({"name": "CI", "expires_at": in_ten_days.to_string()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let old_id = body["key"]["id"].as_str().unwrap().to_owned();

    let (status, body) = browser
        .json(
            Method::POST,
            &format!("/keys/{old_id}/roll"),
            Some(json!({"grace_seconds": 60})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let expires: keygate_types::Timestamp = body["key"]["expires_at"]
        .as_str()
        .expect("the new key expires too")
        .parse()
        .unwrap();
    let lifetime = expires.since(keygate_types::Timestamp::now());
    assert!(
        lifetime > time::Duration::days(10) - time::Duration::minutes(1)
            && lifetime <= time::Duration::days(10),
        "ten days from the roll, as the old key was given: {lifetime}"
    );

    // A key without an expiry rolls into one without an expiry.
    let (status, body) = browser
        .json(Method::POST, "/keys", Some(json!({"name": "forever"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = browser
        .json(
            Method::POST,
            &format!("/keys/{}/roll", body["key"]["id"].as_str().unwrap()),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["key"]["expires_at"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_page_names_its_own_icon_and_serves_it() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let (_, page) = browser.page().await;
    assert!(
        page.contains(
            "<link rel=\"icon\" href=\"/console/assets/favicon.svg\" type=\"image/svg+xml\">"
        ),
        "the page names its icon, so browsers do not ask for /favicon.ico"
    );
    let request = browser.request(Method::GET, "/assets/favicon.svg");
    let response = browser.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert!(response.text().await.unwrap().starts_with("<svg"));
}

#[tokio::test]
async fn an_admin_sees_and_revokes_every_members_keys_but_never_creates_or_rolls_for_them() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let other = h.emu.create_organization("Globex").unwrap();
    let ada = h.emu.create_user("ada@example.com").unwrap();
    let bob = h.emu.create_user("bob@example.com").unwrap();
    for user in [&ada, &bob] {
        h.emu.create_membership(&user.id, &org.id).unwrap();
        h.emu.create_membership(&user.id, &other.id).unwrap();
    }
    let adas = h
        .emu
        .create_user_key(&ada.id, &org.id, "ada laptop", &["posts:read"])
        .unwrap();
    let bobs = h
        .emu
        .create_user_key(&bob.id, &org.id, "bob CI", &[])
        .unwrap();
    h.emu
        .create_user_key(&bob.id, &other.id, "bob at Globex", &[])
        .unwrap();
    h.emu
        .create_organization_key(&org.id, "the organization's own", &[])
        .unwrap();

    let mut admin = Browser::new(&h, org.id.as_str(), ALL, GRANT).for_members();
    let (status, list) = admin.json(Method::GET, "/keys", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let seen: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap(),
                k["owner_email"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("bob CI", "bob@example.com"),
            ("ada laptop", "ada@example.com")
        ],
        "members' keys in this organization only, newest first, with their owners"
    );
    let (_, page) = admin.page().await;
    assert!(page.contains("<td class=\"owner\">ada@example.com</td>"));

    // Never creates or rolls for someone else, whatever the scope allows.
    let (status, body) = admin
        .json(Method::POST, "/keys", Some(json!({"name": "for Ada"})))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("action_not_allowed"))
    );
    let (status, _) = admin
        .json(
            Method::POST,
            &format!("/keys/{}/roll", adas.id),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!page.contains("id=\"create-form\""), "no create form");

    let (status, _) = admin
        .json(Method::DELETE, &format!("/keys/{}", bobs.id), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!h.valid(bobs.value.expose_secret()).await);
    assert!(h.valid(adas.value.expose_secret()).await);

    // A member managing their own keys sees none of anyone else's.
    let mut ada_browser = Browser::new(&h, org.id.as_str(), ALL, GRANT).for_user(ada.id.as_str());
    let (_, list) = ada_browser.json(Method::GET, "/keys", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["name"], "ada laptop");
}

#[tokio::test]
async fn a_key_policy_refuses_each_break_with_its_own_message_on_create_and_roll() {
    let policy = keygate_types::KeyPolicy::new()
        .require_expiry()
        .max_lifetime(std::time::Duration::from_secs(30 * 24 * 60 * 60))
        .max_active_keys(2);
    let h = Harness::with_policy(policy).await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let at = |days| {
        keygate_types::Timestamp::now()
            .saturating_add(time::Duration::days(days))
            .to_string()
    };

    let (status, body) = browser
        .json(Method::POST, "/keys", Some(json!({"name": "forever"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "expiry_required");
    assert_eq!(
        body["message"],
        "Keys here must expire: give the key an expiry."
    );
    assert_eq!(body["errors"][0]["field"], "expires_at");

    let (status, body) = browser
        .json(
            Method::POST,
            "/keys",
            Some(json!({"name": "long", "expires_at": at(31)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "lifetime_too_long");
    assert_eq!(
        body["message"],
        "Keys here may live at most 30 days: choose an earlier expiry."
    );

    for name in ["one", "two"] {
        let (status, body) = browser
            .json(
                Method::POST,
                "/keys",
                Some(json!({"name": name, "expires_at": at(10)})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = browser
        .json(
            Method::POST,
            "/keys",
            Some(json!({"name": "three", "expires_at": at(10)})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "too_many_active_keys");
    assert_eq!(
        body["message"],
        "You already have 2 active keys, the most allowed: revoke one first."
    );

    // A roll replaces a key (the count holds) and its lifetime is capped: a
    // key from before the policy, without an expiry, rolls into one that
    // expires within 30 days.
    let legacy = h
        .emu
        .create_organization_key(&org.id, "legacy", &[])
        .unwrap();
    let (status, body) = browser
        .json(
            Method::POST,
            &format!("/keys/{}/roll", legacy.id),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let expires: keygate_types::Timestamp =
        body["key"]["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires.since(keygate_types::Timestamp::now()) <= time::Duration::days(30));

    // An expiry change keeps the policy: no clearing, no life past the cap.
    let (_, list) = browser.json(Method::GET, "/keys?q=one", None).await;
    let one = list["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = browser
        .json(
            Method::PUT,
            &format!("/keys/{one}/expiry"),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("expiry_required")),
        "{body}"
    );
    let (status, body) = browser
        .json(
            Method::PUT,
            &format!("/keys/{one}/expiry"),
            Some(json!({"expires_at": at(31)})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("lifetime_too_long")),
        "{body}"
    );
    let (status, _) = browser
        .json(
            Method::PUT,
            &format!("/keys/{one}/expiry"),
            Some(json!({"expires_at": at(20)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The form shows the rules, and the same refusal by plain post.
    let (_, page) = browser.page().await;
    assert!(page.contains("Here, keys expire within 30 days; at most 2 active keys each."));
    assert!(page.contains("Expires (UTC, required)"));
}

#[tokio::test]
async fn permissions_are_offered_with_the_catalogues_names_and_descriptions() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    h.emu
        .create_organization_key(&org.id, "CI", &["posts:read"])
        .unwrap();
    // posts:write is named; admin is not in the catalogue; the scope, not
    // the catalogue, decides what may be granted.
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, "posts:read,admin");
    let (status, body) = browser.json(Method::GET, "/permissions", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!([
            {"slug": "posts:read", "name": "Read posts", "description": "See every post."},
            {"slug": "admin", "name": "admin", "description": ""},
        ])
    );
    let (_, page) = browser.page().await;
    assert!(page.contains("<span class=\"perm-name\">Read posts</span> <code>posts:read</code> <span class=\"perm-description muted\">See every post.</span>"));
    assert!(!page.contains("Write posts"), "not grantable, not offered");
    assert!(
        page.contains(
            "<code class=\"perm\" title=\"Read posts: See every post.\">posts:read</code>"
        )
    );
}
