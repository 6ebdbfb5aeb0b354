//! Each key's requests beside it, end to end: the layer in front of a
//! route counts into a usage meter, and the console shows the figures on
//! the page (a server-drawn SVG chart, no script) and in the JSON API.

mod support;

use http::StatusCode;
use reqwest::Method;
use serde_json::json;
use support::{Browser, Harness};

async fn call_service(h: &Harness, value: &str, times: usize) {
    let http = reqwest::Client::new();
    for _ in 0..times {
        let status = http
            .get(&h.service)
            .bearer_auth(value)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn each_key_shows_its_requests_on_the_page_and_in_the_api() {
    let h = Harness::with_usage().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), "create", "posts:read");
    let (status, created) = browser
        .json(
            Method::POST,
            "/keys",
            Some(json!({"name": "busy", "permissions": ["posts:read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let value = created["value"].as_str().unwrap().to_owned();
    let (_, idle) = browser
        .json(
            Method::POST,
            "/keys",
            Some(json!({"name": "idle", "permissions": []})),
        )
        .await;
    call_service(&h, &value, 3).await;

    let (status, list) = browser.json(Method::GET, "/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    let busy = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "busy")
        .unwrap();
    assert_eq!(busy["usage"]["last_24_hours"], 3);
    assert_eq!(busy["usage"]["last_30_days"], 3);
    assert_eq!(busy["usage"]["daily"].as_array().unwrap().len(), 30);
    assert_eq!(busy["usage"]["daily"][29], 3);
    let idle = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == idle["key"]["id"])
        .unwrap();
    assert_eq!(idle["usage"]["last_30_days"], 0);

    let (status, page) = browser.page().await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<th>Requests</th>"), "{page}");
    assert!(page.contains("3 in 24 h · 3 in 30 days"), "{page}");
    assert!(page.contains(r#"<svg class="usage-chart""#), "{page}");
    assert!(page.contains(": 3 requests</title>"), "{page}");
}

#[tokio::test]
async fn without_a_usage_source_no_figures_are_shown() {
    let h = Harness::start().await;
    let org = h.emu.create_organization("Acme").unwrap();
    let mut browser = Browser::new(&h, org.id.as_str(), "create", "posts:read");
    browser
        .json(
            Method::POST,
            "/keys",
            Some(json!({"name": "ci", "permissions": []})),
        )
        .await;
    let (_, list) = browser.json(Method::GET, "/keys", None).await;
    assert!(list["data"][0].get("usage").is_none());
    let (_, page) = browser.page().await;
    assert!(!page.contains("usage-chart"));
}
