//! Every API-key call against the emulator, success and failure.

mod fixture;

use fixture::{member, org, org_key, start, user};
use http::StatusCode;
use keygate_client::{Client, Error};
use keygate_types::{
    ApiKeyId, CreateUserApiKey, Expiry, ListParams, OrganizationId, Owner, Timestamp, codes,
};

fn api_status(result: Result<impl std::fmt::Debug, Error>) -> (StatusCode, Error) {
    let err = result.expect_err("expected an error");
    (err.status().expect("an API error"), err)
}

#[tokio::test]
async fn organization_key_lifecycle() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;
    let created = s
        .client
        .create_organization_api_key(&acme.id, org_key("CI", &["posts:read", "posts:write"]))
        .await
        .unwrap();
    assert_eq!(created.name, "CI");
    assert_eq!(
        created.owner,
        Owner::Organization {
            id: acme.id.clone()
        }
    );
    assert_eq!(created.permissions, ["posts:read", "posts:write"]);
    assert!(created.value.expose_secret().starts_with("sk_"));
    assert_eq!(created.expires_at, None);

    let valid = s
        .client
        .validate_api_key(created.value.expose_secret())
        .await
        .unwrap()
        .expect("the new key validates");
    assert_eq!(valid.id, created.id);
    assert!(valid.last_used_at.is_some());
    assert!(valid.has_permission("posts:write"));

    let page = s
        .client
        .list_organization_api_keys(&acme.id, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].id, created.id);
    assert!(!page.has_next());

    s.client.delete_api_key(&created.id).await.unwrap();
    assert_eq!(
        s.client
            .validate_api_key(created.value.expose_secret())
            .await
            .unwrap(),
        None
    );
    let (status, err) = api_status(s.client.delete_api_key(&created.id).await);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err.code(), Some(codes::ENTITY_NOT_FOUND));
    assert!(err.is_not_found());
    assert!(!err.is_retryable());
    assert!(err.request_id().is_some(), "every answer has a request id");
}

#[tokio::test]
async fn unknown_values_are_none_not_errors() {
    let s = start().await;
    for value in ["sk_unknown", "", "not even a key", &"x".repeat(300)] {
        assert_eq!(s.client.validate_api_key(value).await.unwrap(), None);
    }
}

#[tokio::test]
async fn user_keys_and_the_organization_filter() {
    let s = start().await;
    let (a, b) = (org(&s.client, "A").await, org(&s.client, "B").await);
    let ada = user(&s.client, "ada@example.com").await;
    member(&s.client, &ada, &a).await;
    member(&s.client, &ada, &b).await;
    let body = |org: &OrganizationId| CreateUserApiKey {
        name: "laptop".into(),
        organization_id: org.clone(),
        permissions: vec!["posts:read".into()],
        expires_at: None,
    };
    let in_a = s
        .client
        .create_user_api_key(&ada.id, body(&a.id))
        .await
        .unwrap();
    let in_b = s
        .client
        .create_user_api_key(&ada.id, body(&b.id))
        .await
        .unwrap();
    assert_eq!(in_a.owner.user_id(), Some(&ada.id));
    assert_eq!(in_a.owner.organization_id(), &a.id);

    let all = s
        .client
        .list_user_api_keys(&ada.id, None, &ListParams::default())
        .await
        .unwrap();
    let mut ids: Vec<_> = all.data.iter().map(|k| k.id.clone()).collect();
    ids.sort();
    let mut expected = vec![in_a.id.clone(), in_b.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    let only_a = s
        .client
        .list_user_api_keys(&ada.id, Some(&a.id), &ListParams::default())
        .await
        .unwrap();
    assert_eq!(only_a.data.len(), 1);
    assert_eq!(only_a.data[0].id, in_a.id);

    // The organization's own list holds organization-owned keys only.
    let org_list = s
        .client
        .list_organization_api_keys(&a.id, &ListParams::default())
        .await
        .unwrap();
    assert!(org_list.data.is_empty());

    let valid = s
        .client
        .validate_api_key(in_b.value.expose_secret())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(valid.owner.organization_id(), &b.id);
}

#[tokio::test]
async fn create_failures_carry_field_errors() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;

    let missing = OrganizationId::new_unchecked("org_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    let (status, err) = api_status(
        s.client
            .create_organization_api_key(&missing, org_key("x", &[]))
            .await,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err.api_error().unwrap().entity_id(), Some(missing.as_str()));

    let (status, err) = api_status(
        s.client
            .create_organization_api_key(&acme.id, org_key("", &[]))
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = err.api_error().unwrap().field_errors();
    assert!(fields.iter().any(|f| f.field == "name"), "{fields:?}");

    let (status, err) = api_status(
        s.client
            .create_organization_api_key(&acme.id, org_key("x", &["admin:everything"]))
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = err.api_error().unwrap().field_errors();
    assert!(
        fields.iter().any(|f| f.field.starts_with("permissions")),
        "{fields:?}"
    );

    let mut past = org_key("x", &[]);
    past.expires_at = Some(Timestamp::from_unix_timestamp(1_000_000_000).unwrap());
    let (status, err) = api_status(s.client.create_organization_api_key(&acme.id, past).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = err.api_error().unwrap().field_errors();
    assert!(fields.iter().any(|f| f.field == "expires_at"), "{fields:?}");
    assert!(err.to_string().contains("expires_at"), "{err}");
}

#[tokio::test]
async fn user_key_failures() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;
    let ada = user(&s.client, "ada@example.com").await;
    let body = |org: &OrganizationId, perms: &[&str]| CreateUserApiKey {
        name: "laptop".into(),
        organization_id: org.clone(),
        permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
        expires_at: None,
    };
    // No membership yet: 422.
    let (status, _) = api_status(
        s.client
            .create_user_api_key(&ada.id, body(&acme.id, &[]))
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    member(&s.client, &ada, &acme).await;
    // A permission enabled for organization keys only: 422.
    let (status, _) = api_status(
        s.client
            .create_user_api_key(&ada.id, body(&acme.id, &["deploys:write"]))
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Unknown user, unknown organization: 404.
    let nobody = keygate_types::UserId::new_unchecked("user_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    let (status, _) = api_status(
        s.client
            .create_user_api_key(&nobody, body(&acme.id, &[]))
            .await,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    let nowhere = OrganizationId::new_unchecked("org_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    let (status, _) = api_status(
        s.client
            .create_user_api_key(&ada.id, body(&nowhere, &[]))
            .await,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An empty name on a user key: 400 with field errors.
    let mut unnamed = body(&acme.id, &[]);
    unnamed.name = String::new();
    let (status, err) = api_status(s.client.create_user_api_key(&ada.id, unnamed).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields = err.api_error().unwrap().field_errors();
    assert!(fields.iter().any(|f| f.field == "name"), "{fields:?}");
    assert_eq!(err.code(), Some(codes::INVALID_REQUEST_PARAMETERS));
}

#[tokio::test]
async fn list_failures() {
    let s = start().await;
    let missing = OrganizationId::new_unchecked("org_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    let (status, _) = api_status(
        s.client
            .list_organization_api_keys(&missing, &ListParams::default())
            .await,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let acme = org(&s.client, "Acme").await;
    for limit in [0, 101] {
        let params = ListParams {
            limit: Some(limit),
            ..ListParams::default()
        };
        let (status, err) =
            api_status(s.client.list_organization_api_keys(&acme.id, &params).await);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "limit {limit}");
        let fields = err.api_error().unwrap().field_errors();
        assert!(fields.iter().any(|f| f.field == "limit"), "{fields:?}");
    }
}

#[tokio::test]
async fn expire_now_at_and_clear() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;
    let key = s
        .client
        .create_organization_api_key(&acme.id, org_key("k", &[]))
        .await
        .unwrap();
    let value = key.value.expose_secret();

    let later = Timestamp::from_unix_timestamp(Timestamp::now().unix_timestamp() + 3600).unwrap();
    let scheduled = s
        .client
        .expire_api_key(&key.id, Expiry::At(later))
        .await
        .unwrap();
    assert_eq!(scheduled.expires_at, Some(later));
    assert!(s.client.validate_api_key(value).await.unwrap().is_some());

    let cleared = s
        .client
        .expire_api_key(&key.id, Expiry::Clear)
        .await
        .unwrap();
    assert_eq!(cleared.expires_at, None);

    let expired = s.client.expire_api_key(&key.id, Expiry::Now).await.unwrap();
    assert!(expired.expires_at.is_some());
    assert_eq!(s.client.validate_api_key(value).await.unwrap(), None);

    let (status, err) = api_status(s.client.expire_api_key(&key.id, Expiry::Now).await);
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err.code(), Some(codes::API_KEY_ALREADY_EXPIRED));

    // A time in the past expires at once.
    let other = s
        .client
        .create_organization_api_key(&acme.id, org_key("k2", &[]))
        .await
        .unwrap();
    let past = Timestamp::from_unix_timestamp(1_000_000_000).unwrap();
    s.client
        .expire_api_key(&other.id, Expiry::At(past))
        .await
        .unwrap();
    assert_eq!(
        s.client
            .validate_api_key(other.value.expose_secret())
            .await
            .unwrap(),
        None
    );

    let unknown = ApiKeyId::new_unchecked("api_key_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    let (status, _) = api_status(s.client.expire_api_key(&unknown, Expiry::Now).await);
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_secret_is_401_never_an_invalid_key() {
    let s = start().await;
    let acme = s.emu.create_organization("Acme").unwrap();
    let key = s.emu.create_organization_key(&acme.id, "k", &[]).unwrap();
    let wrong = Client::builder()
        .secret("sk_test_wrong")
        .base_url(s.emu.base_url())
        .build()
        .unwrap();
    let err = wrong
        .validate_api_key(key.value.expose_secret())
        .await
        .expect_err("a wrong secret must not read as an invalid key");
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(err.is_unauthorized());
    assert_eq!(err.code(), Some(codes::UNAUTHORIZED));
    assert!(!err.is_retryable());
    let (status, _) = api_status(
        wrong
            .list_organization_api_keys(&acme.id, &ListParams::default())
            .await,
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
