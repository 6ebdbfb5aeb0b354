//! Auto-paging streams against the emulator.

mod fixture;

use fixture::start;
use futures_util::TryStreamExt;
use keygate_types::{ApiKey, ListParams, Order};

#[tokio::test]
async fn auto_paging_250_keys_with_limit_100() {
    let s = start().await;
    let org = s.emu.create_organization("Acme").unwrap();
    let mut created: Vec<ApiKey> = (0..250)
        .map(|i| {
            s.emu
                .create_organization_key(&org.id, &format!("key {i}"), &[])
                .unwrap()
                .api_key
        })
        .collect();
    // The service's order: newest first, by created_at then id.
    created.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let expected: Vec<_> = created.iter().map(|k| k.id.clone()).collect();

    let params = ListParams {
        limit: Some(100),
        ..ListParams::default()
    };
    let keys: Vec<ApiKey> = s
        .client
        .stream_organization_api_keys(&org.id, params.clone())
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = keys.iter().map(|k| k.id.clone()).collect();
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    eprintln!(
        "auto-paging, limit=100: {} keys, {} distinct, {} page requests",
        ids.len(),
        distinct.len(),
        s.emu.request_count("GET", "/organizations/{id}/api_keys")
    );
    assert_eq!(ids.len(), 250);
    assert_eq!(distinct.len(), 250);
    assert_eq!(ids, expected, "in the service's order");
    assert_eq!(
        s.emu.request_count("GET", "/organizations/{id}/api_keys"),
        3
    );

    // Oldest first, too.
    let ascending = ListParams {
        order: Some(Order::Asc),
        ..params
    };
    let keys: Vec<ApiKey> = s
        .client
        .stream_organization_api_keys(&org.id, ascending)
        .try_collect()
        .await
        .unwrap();
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(keys.into_iter().map(|k| k.id).collect::<Vec<_>>(), reversed);
}

#[tokio::test]
async fn one_page_and_its_cursors() {
    let s = start().await;
    let org = s.emu.create_organization("Acme").unwrap();
    for i in 0..5 {
        s.emu
            .create_organization_key(&org.id, &format!("key {i}"), &[])
            .unwrap();
    }
    let params = ListParams {
        limit: Some(2),
        ..ListParams::default()
    };
    let first = s
        .client
        .list_organization_api_keys(&org.id, &params)
        .await
        .unwrap();
    assert_eq!(first.data.len(), 2);
    assert!(first.has_next());
    let after = first.after.clone().unwrap();
    assert_eq!(after, first.data[1].id.as_str());
    let second = s
        .client
        .list_organization_api_keys(&org.id, &params.after(after))
        .await
        .unwrap();
    assert_eq!(second.data.len(), 2);
    assert!(second.data.iter().all(|k| !first.data.contains(k)));

    // A stream may start from a cursor, and a stream over nothing is empty.
    let rest: Vec<ApiKey> = s
        .client
        .stream_organization_api_keys(&org.id, params.after(second.after.unwrap()))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    let empty = s.emu.create_organization("Empty").unwrap();
    let none: Vec<ApiKey> = s
        .client
        .stream_organization_api_keys(&empty.id, ListParams::default())
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_with_the_error() {
    let s = start().await;
    let org = s.emu.create_organization("Acme").unwrap();
    for i in 0..3 {
        s.emu
            .create_organization_key(&org.id, &format!("key {i}"), &[])
            .unwrap();
    }
    let missing = keygate_types::OrganizationId::new_unchecked("org_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    let err = s
        .client
        .stream_organization_api_keys(&missing, ListParams::default())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}
