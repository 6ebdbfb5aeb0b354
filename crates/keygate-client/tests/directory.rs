//! Organizations, users and memberships against the emulator.

mod fixture;

use fixture::{member, org, org_key, start, user};
use futures_util::TryStreamExt;
use http::StatusCode;
use keygate_types::{
    CreateMembership, CreateOrganization, CreateUser, CreateUserApiKey, ListParams, MembershipId,
    MembershipStatus, OrganizationId, UserId,
};

#[tokio::test]
async fn organizations_create_get_list_delete() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;
    assert_eq!(acme.name, "Acme");
    assert_eq!(s.client.get_organization(&acme.id).await.unwrap(), acme);
    let globex = org(&s.client, "Globex").await;

    let page = s
        .client
        .list_organizations(&ListParams::default())
        .await
        .unwrap();
    let ids: Vec<_> = page.data.iter().map(|o| o.id.clone()).collect();
    assert!(ids.contains(&acme.id) && ids.contains(&globex.id));
    let all: Vec<_> = s
        .client
        .stream_organizations(ListParams {
            limit: Some(1),
            ..ListParams::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);

    // Deleting an organization revokes its keys.
    let key = s
        .client
        .create_organization_api_key(&acme.id, org_key("k", &[]))
        .await
        .unwrap();
    s.client.delete_organization(&acme.id).await.unwrap();
    assert_eq!(
        s.client
            .validate_api_key(key.value.expose_secret())
            .await
            .unwrap(),
        None
    );
    let err = s.client.get_organization(&acme.id).await.unwrap_err();
    assert!(err.is_not_found());
    let err = s.client.delete_organization(&acme.id).await.unwrap_err();
    assert!(err.is_not_found());

    let err = s
        .client
        .create_organization(CreateOrganization::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
    let fields = err.api_error().unwrap().field_errors();
    assert!(fields.iter().any(|f| f.field == "name"), "{fields:?}");
}

#[tokio::test]
async fn users_create_get_list_delete() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;
    let ada = user(&s.client, "ada@example.com").await;
    let bob = user(&s.client, "bob@example.com").await;
    assert_eq!(s.client.get_user(&ada.id).await.unwrap(), ada);
    member(&s.client, &ada, &acme).await;

    let all = s
        .client
        .list_users(None, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(all.data.len(), 2);
    let in_acme = s
        .client
        .list_users(Some(&acme.id), &ListParams::default())
        .await
        .unwrap();
    assert_eq!(in_acme.data.len(), 1);
    assert_eq!(in_acme.data[0].id, ada.id);
    let streamed: Vec<_> = s
        .client
        .stream_users(None, ListParams::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.len(), 2);

    let err = s
        .client
        .create_user(CreateUser {
            email: "ada@example.com".into(),
            ..CreateUser::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err.status().map(|s| s.as_u16()), Some(409 | 422)),
        "{err}"
    );

    s.client.delete_user(&bob.id).await.unwrap();
    assert!(s.client.get_user(&bob.id).await.unwrap_err().is_not_found());
    let nobody = UserId::new_unchecked("user_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    assert!(
        s.client
            .delete_user(&nobody)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn memberships_gate_user_keys() {
    let s = start().await;
    let acme = org(&s.client, "Acme").await;
    let ada = user(&s.client, "ada@example.com").await;
    let membership = member(&s.client, &ada, &acme).await;
    assert_eq!(membership.status, MembershipStatus::Active);
    assert_eq!(
        s.client.get_membership(&membership.id).await.unwrap().id,
        membership.id
    );
    let by_user = s
        .client
        .list_memberships(Some(&ada.id), None, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(by_user.data.len(), 1);
    let by_org: Vec<_> = s
        .client
        .stream_memberships(None, Some(&acme.id), ListParams::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_org.len(), 1);

    let key = s
        .client
        .create_user_api_key(
            &ada.id,
            CreateUserApiKey {
                name: "laptop".into(),
                organization_id: acme.id.clone(),
                permissions: vec![],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let value = key.value.expose_secret();
    assert!(s.client.validate_api_key(value).await.unwrap().is_some());

    let inactive = s
        .client
        .deactivate_membership(&membership.id)
        .await
        .unwrap();
    assert_eq!(inactive.status, MembershipStatus::Inactive);
    assert_eq!(s.client.validate_api_key(value).await.unwrap(), None);

    let active = s
        .client
        .reactivate_membership(&membership.id)
        .await
        .unwrap();
    assert_eq!(active.status, MembershipStatus::Active);
    assert!(s.client.validate_api_key(value).await.unwrap().is_some());

    s.client.delete_membership(&membership.id).await.unwrap();
    assert_eq!(s.client.validate_api_key(value).await.unwrap(), None);
    assert!(
        s.client
            .get_membership(&membership.id)
            .await
            .unwrap_err()
            .is_not_found()
    );

    let unknown = MembershipId::new_unchecked("om_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    for err in [
        s.client.deactivate_membership(&unknown).await.unwrap_err(),
        s.client.reactivate_membership(&unknown).await.unwrap_err(),
        s.client.delete_membership(&unknown).await.unwrap_err(),
    ] {
        assert!(err.is_not_found(), "{err}");
    }

    // A membership in an unknown organization: 404.
    let err = s
        .client
        .create_membership(CreateMembership {
            user_id: ada.id.clone(),
            organization_id: OrganizationId::new_unchecked("org_01HZZZZZZZZZZZZZZZZZZZZZZZ"),
            role_slug: None,
        })
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
