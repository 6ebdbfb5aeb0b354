//! Events: filtered lists and the poller's cursor-following call.

mod fixture;

use fixture::{org, org_key, start};
use futures_util::TryStreamExt;
use http::StatusCode;
use keygate_types::{
    API_KEY_CREATED, API_KEY_REVOKED, API_KEY_UPDATED, EventPayload, EventsParams, Expiry, Order,
};

#[tokio::test]
async fn filtered_lists() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;
    let globex = org(&s.client, "Globex").await;
    let a = s
        .client
        .create_organization_api_key(&acme.id, org_key("a", &[]))
        .await
        .unwrap();
    let g = s
        .client
        .create_organization_api_key(&globex.id, org_key("g", &[]))
        .await
        .unwrap();
    s.client.expire_api_key(&a.id, Expiry::Now).await.unwrap();
    s.client.delete_api_key(&a.id).await.unwrap();

    let revoked = s
        .client
        .list_events(&EventsParams {
            events: vec![API_KEY_REVOKED.into()],
            ..EventsParams::default()
        })
        .await
        .unwrap();
    assert_eq!(revoked.data.len(), 1);
    assert!(matches!(&revoked.data[0].payload, EventPayload::ApiKeyRevoked(k) if k.id == a.id));

    let two_kinds = s
        .client
        .list_events(&EventsParams {
            events: vec![API_KEY_REVOKED.into(), API_KEY_UPDATED.into()],
            ..EventsParams::default()
        })
        .await
        .unwrap();
    assert_eq!(two_kinds.data.len(), 2);
    let updated = two_kinds
        .data
        .iter()
        .find(|e| e.payload.name() == API_KEY_UPDATED)
        .unwrap();
    assert!(matches!(
        &updated.payload,
        EventPayload::ApiKeyUpdated { previous_attributes, .. }
            if previous_attributes.contains_key("expires_at")
    ));

    let of_globex = s
        .client
        .list_events(&EventsParams {
            organization_id: Some(globex.id.clone()),
            ..EventsParams::default()
        })
        .await
        .unwrap();
    assert_eq!(of_globex.data.len(), 1);
    assert_eq!(of_globex.data[0].payload.api_key().unwrap().id, g.id);

    let everything: Vec<_> = s
        .client
        .stream_events(EventsParams {
            limit: Some(1),
            order: Some(Order::Asc),
            ..EventsParams::default()
        })
        .try_collect()
        .await
        .unwrap();
    let names: Vec<_> = everything
        .iter()
        .map(|e| e.payload.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            API_KEY_CREATED,
            API_KEY_CREATED,
            API_KEY_UPDATED,
            API_KEY_REVOKED
        ]
    );

    // A time range that ends before everything: nothing.
    let none = s
        .client
        .list_events(&EventsParams {
            range_end: Some(keygate_types::Timestamp::from_unix_timestamp(1_000_000_000).unwrap()),
            ..EventsParams::default()
        })
        .await
        .unwrap();
    assert!(none.data.is_empty());

    let err = s
        .client
        .list_events(&EventsParams {
            limit: Some(0),
            ..EventsParams::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
}

#[tokio::test]
async fn a_poller_follows_the_cursor_oldest_first() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;
    let names = [API_KEY_REVOKED, API_KEY_UPDATED];
    let old = s
        .client
        .create_organization_api_key(&acme.id, org_key("old", &[]))
        .await
        .unwrap();
    s.client.delete_api_key(&old.id).await.unwrap();

    // Start from now: the old revocation is behind the cursor.
    let mut cursor = s.client.latest_event_id(&names).await.unwrap();
    assert!(cursor.is_some());

    let mut revoked = Vec::new();
    for i in 0..3 {
        let key = s
            .client
            .create_organization_api_key(&acme.id, org_key(&format!("k{i}"), &[]))
            .await
            .unwrap();
        s.client.delete_api_key(&key.id).await.unwrap();
        revoked.push(key.id.clone());
    }

    let batch = s
        .client
        .events_after(cursor.as_ref(), &names, 2)
        .await
        .unwrap();
    assert_eq!(batch.events.len(), 2);
    assert!(batch.has_more);
    let mut seen: Vec<_> = batch
        .events
        .iter()
        .map(|e| e.payload.api_key().unwrap().id.clone())
        .collect();
    cursor = batch.cursor;

    let batch = s
        .client
        .events_after(cursor.as_ref(), &names, 2)
        .await
        .unwrap();
    assert_eq!(batch.events.len(), 1);
    assert!(!batch.has_more);
    seen.extend(
        batch
            .events
            .iter()
            .map(|e| e.payload.api_key().unwrap().id.clone()),
    );
    assert_eq!(seen, revoked, "oldest first, none missed, none twice");
    cursor = batch.cursor;

    // Nothing new: no events, the cursor stays.
    let idle = s
        .client
        .events_after(cursor.as_ref(), &names, 100)
        .await
        .unwrap();
    assert!(idle.events.is_empty());
    assert_eq!(idle.cursor, cursor);
}
