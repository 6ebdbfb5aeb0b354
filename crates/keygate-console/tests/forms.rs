//! The page with JavaScript off: the same flows as plain form posts, each
//! followed by the GET a browser makes after a 303.

mod support;

use http::StatusCode;
use support::{Browser, Harness, revealed_value};

const ALL: &str = "create,roll,revoke";
const GRANT: &str = "posts:read,posts:write";

/// Posts a form and follows its redirect like a browser: answers the final
/// status and page.
async fn submit(
    browser: &mut Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = browser.post_form(path, fields).await;
    if response.status() == StatusCode::SEE_OTHER {
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            !location.contains("sk_"),
            "never a value in a URL: {location}"
        );
        let origin = browser.base.trim_end_matches("/console").to_owned();
        let request = browser.request(reqwest::Method::GET, &format!("{origin}{location}"));
        let page = browser.send(request).await;
        let status = page.status();
        return (status, page.text().await.unwrap());
    }
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_key_created_by_form_is_shown_once_and_never_again() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let (status, page) = browser.page().await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"permissions\" value=\"posts:read\""));
    assert!(
        !page.contains("value=\"admin\""),
        "only grantable permissions are offered"
    );

    let (status, page) = submit(
        &mut browser,
        "/keys",
        &[
            ("name", "CI deploys"),
            ("permissions", "posts:read"),
            ("permissions", "posts:write"),
            ("expires_at", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let value = revealed_value(&page).expect("the value is on the page after the create");
    assert!(h.valid(&value).await);
    assert!(page.contains("CI deploys") && page.contains("status-active"));

    // A reload (a GET) does not show it again; nor does any later page.
    let (_, again) = browser.page().await;
    assert!(revealed_value(&again).is_none());
    assert!(!again.contains(&value));
    assert!(again.contains("CI deploys"));
    assert!(
        again.contains(&format!("…{}", &value[value.len() - 4..])),
        "the masked value"
    );
}

#[tokio::test]
async fn a_bad_create_form_comes_back_filled_in_with_what_was_wrong() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);

    let (status, page) = submit(
        &mut browser,
        "/keys",
        &[
            ("name", "  "),
            ("permissions", "posts:write"),
            ("expires_at", "2001-01-01T10:00"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Give the key a name."));
    assert!(page.contains("The expiry must be in the future."));
    assert!(
        page.contains("<details id=\"create\" class=\"create\" open>"),
        "the form stays open"
    );
    assert!(
        page.contains("value=\"posts:write\" checked"),
        "the ticked box stays ticked"
    );
    assert!(
        page.contains("value=\"2001-01-01T10:00\""),
        "the expiry stays"
    );

    let (status, page) = submit(
        &mut browser,
        "/keys",
        &[("name", "kept name"), ("permissions", "admin")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("You may not grant: admin."));
    assert!(page.contains("value=\"kept name\""));
    let (_, list) = browser.json(reqwest::Method::GET, "/keys", None).await;
    assert_eq!(list["data"], serde_json::json!([]));
}

#[tokio::test]
async fn roll_expiry_and_revoke_work_as_plain_forms() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let key = h
        .emu
        .create_organization_key(&org.id, "CI", &["posts:read"])
        .unwrap();
    let id = key.id.as_str();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);

    // Roll with an hour of grace: a new value, shown once; the old key expiring.
    let (status, page) = submit(
        &mut browser,
        &format!("/keys/{id}/roll"),
        &[("grace_seconds", "3600")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let new_value = revealed_value(&page).expect("the rolled value");
    assert!(page.contains("Rolled: the old key works until"));
    assert!(page.contains("status-expiring"));
    assert!(h.valid(&new_value).await && h.valid(key.value.expose_secret()).await);

    // Schedule, then clear, the new key's expiry.
    let new_id = {
        let (_, list) = browser.json(reqwest::Method::GET, "/keys", None).await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] != id)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (status, page) = submit(
        &mut browser,
        &format!("/keys/{new_id}/expiry"),
        &[("change", "schedule"), ("expires_at", "2099-01-31T12:00")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("title=\"2099-01-31 12:00:00 UTC\">2099-01-31 12:00<"));
    let (status, page) = submit(
        &mut browser,
        &format!("/keys/{new_id}/expiry"),
        &[("change", "schedule"), ("expires_at", "2001-01-31T12:00")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("The expiry must be in the future."));
    let (_, page) = submit(
        &mut browser,
        &format!("/keys/{new_id}/expiry"),
        &[("change", "clear")],
    )
    .await;
    assert!(!page.contains("2099-01-31 12:00:00 UTC"));

    // Revoke: a confirmation page first, then the post.
    let confirm = browser.request(reqwest::Method::GET, &format!("/keys/{id}/revoke"));
    let confirm = browser.send(confirm).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let confirm = confirm.text().await.unwrap();
    assert!(
        confirm.contains("Revoke “CI”?")
            && confirm.contains(&format!("action=\"/console/keys/{id}/revoke\""))
    );
    let (status, page) = submit(&mut browser, &format!("/keys/{id}/revoke"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(id));
    assert!(!h.valid(key.value.expose_secret()).await);
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let key = h.emu.create_organization_key(&org.id, "CI", &[]).unwrap();
    let id = key.id.as_str();
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    browser.page().await;
    for (path, fields) in [
        ("/keys".to_owned(), vec![("name", "x")]),
        (format!("/keys/{id}/roll"), vec![("grace_seconds", "0")]),
        (format!("/keys/{id}/revoke"), vec![]),
        (format!("/keys/{id}/expiry"), vec![("change", "clear")]),
        (
            "/organization".to_owned(),
            vec![("organization", org.id.as_str())],
        ),
    ] {
        for token in ["", "wrong"] {
            let mut with_token = fields.clone();
            with_token.push(("csrf_token", token));
            let response = browser.post_form(&path, &with_token).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
            assert!(response.text().await.unwrap().contains("CSRF token"));
        }
    }
    assert!(h.valid(key.value.expose_secret()).await);
    let (_, list) = browser.json(reqwest::Method::GET, "/keys", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn another_organizations_key_is_absent_from_every_form() {
    let h = Harness::start().await;
    let a = h.emu.create_organization("Acme").unwrap();
    let b = h.emu.create_organization("Globex").unwrap();
    let theirs = h
        .emu
        .create_organization_key(&b.id, "Globex CI", &[])
        .unwrap();
    let id = theirs.id.as_str();
    let mut acme = Browser::new(&h, a.id.as_str(), ALL, GRANT);
    let (_, page) = acme.page().await;
    assert!(!page.contains(id) && !page.contains("Globex CI"));
    let confirm = acme.request(reqwest::Method::GET, &format!("/keys/{id}/revoke"));
    assert_eq!(acme.send(confirm).await.status(), StatusCode::NOT_FOUND);
    for (path, fields) in [
        (format!("/keys/{id}/roll"), vec![("grace_seconds", "0")]),
        (format!("/keys/{id}/revoke"), vec![]),
        (format!("/keys/{id}/expiry"), vec![("change", "clear")]),
    ] {
        let (status, page) = submit(&mut acme, &path, &fields).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("No such key."));
    }
    assert!(h.valid(theirs.value.expose_secret()).await);
}

#[tokio::test]
async fn the_page_searches_by_name() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    for name in ["CI deploys", "Laptop", "Staging CI"] {
        h.emu.create_organization_key(&org.id, name, &[]).unwrap();
    }
    let mut browser = Browser::new(&h, org.id.as_str(), ALL, GRANT);
    let request = browser.request(reqwest::Method::GET, "?q=ci");
    let page = browser.send(request).await.text().await.unwrap();
    assert!(page.contains("CI deploys") && page.contains("Staging CI"));
    assert!(!page.contains(">Laptop<"));
    assert!(page.contains("value=\"ci\""), "the search stays in its box");
}
