//! `GET /events`: the kinds, oldest first unless `order` says otherwise,
//! filters in every encoding, cursors, and 30-day retention against the
//! settable clock.

mod wire;

use std::time::Duration;

use keygate_emulator::Emulator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wire::Caller;

fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn three_kinds_oldest_first_with_previous_attributes() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let key = emu.create_organization_key(&org.id, "k", &[]).unwrap();
    let later = "2099-01-01T00:00:00.000Z";
    api.post(
        &format!("/api_keys/{}/expire", key.id),
        json!({"expires_at": later}),
    )
    .await;
    api.delete(&format!("/api_keys/{}", key.id)).await;

    for query in ["", "?order=asc"] {
        let page = api.get(&format!("/events{query}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(
            names(&page.body),
            ["api_key.created", "api_key.updated", "api_key.revoked"],
            "{query}"
        );
        assert_eq!(page.body["list_metadata"], json!({"after": null}));
    }
    let page = api.get("/events").await.body;
    let updated = &page["data"][1];
    assert_eq!(updated["object"], "event");
    assert!(updated["id"].as_str().unwrap().starts_with("event_"));
    assert_eq!(updated["context"], json!({}));
    assert_eq!(updated["data"]["id"], key.id.as_str());
    assert_eq!(updated["data"]["expires_at"], later);
    assert_eq!(
        updated["data"]["previous_attributes"],
        json!({"expires_at": null})
    );
    for e in page["data"].as_array().unwrap() {
        assert_eq!(e["data"]["object"], "api_key");
        assert!(e["data"].get("value").is_none(), "no value in events");
    }
}

#[tokio::test]
async fn filter_encodings_cursor_and_organization() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let a = emu.create_organization("A").unwrap();
    let b = emu.create_organization("B").unwrap();
    let ka = emu.create_organization_key(&a.id, "a", &[]).unwrap();
    let _kb = emu.create_organization_key(&b.id, "b", &[]).unwrap();
    emu.delete_api_key(ka.id.as_str()).unwrap();

    for query in [
        "events=api_key.created,api_key.revoked",
        "events=api_key.created&events=api_key.revoked",
        "events[]=api_key.created&events[]=api_key.revoked",
        "events%5B%5D=api_key.created&events%5B%5D=api_key.revoked",
    ] {
        let page = api.get(&format!("/events?{query}")).await;
        assert_eq!(names(&page.body).len(), 3, "{query}");
    }
    let revoked = api.get("/events?events=api_key.revoked").await;
    assert_eq!(names(&revoked.body), ["api_key.revoked"]);
    let only_b = api.get(&format!("/events?organization_id={}", b.id)).await;
    assert_eq!(only_b.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(only_b.body["data"][0]["data"]["name"], "b");

    // A poller: one at a time, each `after` the last seen.
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let q = after
            .as_ref()
            .map(|a| format!("&after={a}"))
            .unwrap_or_default();
        let page = api.get(&format!("/events?limit=1{q}")).await.body;
        let data = page["data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        seen.push(data[0]["event"].as_str().unwrap().to_owned());
        after = Some(data[0]["id"].as_str().unwrap().to_owned());
        assert_eq!(page["list_metadata"]["after"].is_string(), seen.len() < 3);
    }
    assert_eq!(
        seen,
        ["api_key.created", "api_key.created", "api_key.revoked"]
    );

    for bad in [
        "limit=0",
        "range_start=yesterday",
        "range_end=x",
        "order=sideways",
    ] {
        let a = api.get(&format!("/events?{bad}")).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(a.body["errors"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn ranges_and_thirty_day_retention_follow_the_clock() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    emu.set_time("2030-01-01T00:00:00.000Z".parse().unwrap());
    emu.create_organization_key(&org.id, "old", &[]).unwrap();
    emu.advance_time(Duration::from_secs(20 * 86_400));
    emu.create_organization_key(&org.id, "new", &[]).unwrap();

    let since = api
        .get("/events?range_start=2030-01-10T00:00:00.000Z")
        .await;
    assert_eq!(since.body["data"].as_array().unwrap().len(), 1);
    let until = api.get("/events?range_end=2030-01-10T00:00:00.000Z").await;
    assert_eq!(until.body["data"][0]["data"]["name"], "old");

    emu.advance_time(Duration::from_secs(11 * 86_400));
    let kept = api.get("/events").await;
    let data = kept.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "the 31-day-old event is gone");
    assert_eq!(data[0]["data"]["name"], "new");
}

/// WorkOS emits `organization_membership.created`, `.updated` (status
/// active ↔ inactive) and `.deleted` with the membership as `data`; whatever
/// follows `api_key.*` events needs them to end a deactivated member's keys.
#[tokio::test]
async fn membership_changes_emit_organization_membership_events() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    let created = api
        .post(
            "/user_management/organization_memberships",
            json!({"user_id": user.id, "organization_id": org.id}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let base = format!("/user_management/organization_memberships/{id}");
    assert_eq!(
        api.put(&format!("{base}/deactivate")).await.status,
        StatusCode::OK
    );
    // Deactivating again changes nothing, and says nothing.
    assert_eq!(
        api.put(&format!("{base}/deactivate")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.put(&format!("{base}/reactivate")).await.status,
        StatusCode::OK
    );
    assert_eq!(api.delete(&base).await.status, StatusCode::NO_CONTENT);

    let page = api.get("/events?events=organization_membership.created,organization_membership.updated,organization_membership.deleted&order=asc").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        names(&page.body),
        [
            "organization_membership.created",
            "organization_membership.updated",
            "organization_membership.updated",
            "organization_membership.deleted"
        ]
    );
    let data: Vec<&Value> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["data"])
        .collect();
    let statuses: Vec<&str> = data.iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["active", "inactive", "active", "active"]);
    for d in &data {
        assert_eq!(d["object"], "organization_membership");
        assert_eq!(d["id"], id.as_str());
        assert_eq!(d["user_id"], user.id.as_str());
        assert_eq!(d["organization_id"], org.id.as_str());
        assert_eq!(d["role"], json!({"slug": "member"}));
        assert_eq!(d["custom_attributes"], json!({}));
        assert_eq!(d["directory_managed"], false);
        assert!(d["created_at"].is_string() && d["updated_at"].is_string());
    }
    // `organization_id` filters them too.
    let other = emu.create_organization("Other").unwrap();
    let none = api
        .get(&format!("/events?organization_id={}", other.id))
        .await;
    assert_eq!(names(&none.body), Vec::<String>::new());
    let mine = api
        .get(&format!("/events?organization_id={}", org.id))
        .await;
    assert_eq!(names(&mine.body).len(), 4);
}

/// WorkOS's spec: `asc`; `desc`, where `after` pages to older events;
/// `normal`, descending with reversed cursors (`after` fetches newer,
/// `before` older); oldest first without `order`.
#[tokio::test]
async fn order_on_events_is_honoured_as_workos_documents_it() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let mut keys = Vec::new();
    for n in 0..5 {
        keys.push(
            emu.create_organization_key(&org.id, &format!("k{n}"), &[])
                .unwrap(),
        );
    }
    let events = emu.events();
    let id = |i: usize| events[i].id.as_str().to_owned();
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |query: String| {
        let api = &api;
        async move {
            let page = api.get(&format!("/events?{query}")).await;
            assert_eq!(page.status, StatusCode::OK, "{query}: {page:?}");
            page.body
        }
    };

    // The newest event first: what a poller starting "from now" asks for.
    let newest = get("order=desc&limit=1".into()).await;
    assert_eq!(ids(&newest), [id(4)]);
    assert_eq!(newest["list_metadata"]["after"], id(4).as_str());
    assert_eq!(ids(&get("order=normal&limit=1".into()).await), [id(4)]);
    // Without `order`, and with `asc`: oldest first.
    assert_eq!(ids(&get("limit=2".into()).await), [id(0), id(1)]);
    assert_eq!(ids(&get("order=asc&limit=2".into()).await), [id(0), id(1)]);

    // `desc`: `after` goes on to older events.
    let older = get(format!("order=desc&limit=2&after={}", id(3))).await;
    assert_eq!(ids(&older), [id(2), id(1)]);
    assert_eq!(older["list_metadata"]["after"], id(1).as_str());
    // `asc`: `after` goes on to newer ones.
    let newer = get(format!("order=asc&limit=2&after={}", id(1))).await;
    assert_eq!(ids(&newer), [id(2), id(3)]);
    // `normal`: descending, `after` fetches the newer events next to the
    // cursor, `before` the older ones.
    let newer = get(format!("order=normal&limit=2&after={}", id(1))).await;
    assert_eq!(ids(&newer), [id(3), id(2)]);
    assert_eq!(newer["list_metadata"]["after"], id(3).as_str());
    let newest = get(format!("order=normal&limit=2&after={}", id(2))).await;
    assert_eq!(ids(&newest), [id(4), id(3)]);
    assert_eq!(newest["list_metadata"]["after"], Value::Null);
    let older = get(format!("order=normal&limit=2&before={}", id(3))).await;
    assert_eq!(ids(&older), [id(2), id(1)]);

    // Walking `desc` with `after` visits every event once, newest first.
    let mut seen = Vec::new();
    let mut query = "order=desc&limit=2".to_owned();
    loop {
        let page = get(query.clone()).await;
        seen.extend(ids(&page));
        match page["list_metadata"]["after"].as_str() {
            Some(after) => query = format!("order=desc&limit=2&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..5).rev().map(id).collect::<Vec<_>>());
}
