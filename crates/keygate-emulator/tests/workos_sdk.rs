//! The official WorkOS Rust SDK (crate `workos` 3.x, written independently of
//! keygate), pointed at the emulator and used unchanged.

use futures_util::TryStreamExt;
use keygate_emulator::Emulator;
use workos::Client;
use workos::api_keys::{
    CreateApiKeyExpireParams, CreateOrganizationApiKeyParams, CreateValidationParams,
    ListOrganizationApiKeysParams,
};
use workos::events::ListEventsParams;
use workos::models::{
    ApiKeyOwnerOneOf, CreateOrganizationApiKey, CreateUserApiKey, ExpireApiKey, OrganizationInput,
    ValidateApiKey,
};
use workos::organization_membership::{
    CreateOrganizationMembershipParams, CreateOrganizationMembershipParamsBody,
    ListOrganizationMembershipsParams, Role,
};
use workos::organizations::CreateOrganizationParams;
use workos::user_management::{
    CreateUserApiKeyParams, CreateUserParams, CreateUserParamsBody, ListUserApiKeysParams,
};

fn sdk(emu: &Emulator) -> Client {
    Client::builder()
        .api_key(emu.secret().expose_secret())
        .base_url(emu.base_url())
        .max_retries(0)
        .build()
}

#[tokio::test]
async fn the_official_sdk_works_unchanged() {
    let emu = Emulator::builder()
        .organization_permissions(["posts:read", "posts:write"])
        .user_permissions(["posts:read"])
        .start()
        .await
        .unwrap();
    let workos = sdk(&emu);

    // Set-up through the SDK too: organization, user, membership.
    #[allow(deprecated)]
    let org = workos
        .organizations()
        .create_organization(CreateOrganizationParams::new(OrganizationInput {
            name: "Acme".into(),
            allow_profiles_outside_organization: None,
            domains: None,
            domain_data: None,
            metadata: None,
            external_id: None,
        }))
        .await
        .expect("create organization");
    let user = workos
        .user_management()
        .create_user(CreateUserParams::new(CreateUserParamsBody::new(
            "ada@example.com",
        )))
        .await
        .expect("create user");

    // Create an organization key, list it, validate it.
    let created = workos
        .api_keys()
        .create_organization_api_key(
            &org.id,
            CreateOrganizationApiKeyParams::new(CreateOrganizationApiKey {
                name: "ci".into(),
                permissions: Some(vec!["posts:read".into()]),
                expires_at: None,
            }),
        )
        .await
        .expect("create organization key");
    assert_eq!(created.owner.id, org.id);
    let listed: Vec<_> = workos
        .api_keys()
        .list_organization_api_keys_auto_paging(&org.id, ListOrganizationApiKeysParams::default())
        .try_collect()
        .await
        .expect("list organization keys");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    let valid = workos
        .api_keys()
        .create_validation(CreateValidationParams::new(ValidateApiKey {
            value: created.value.clone(),
        }))
        .await
        .expect("validate");
    let key = valid.api_key.expect("a valid key");
    assert_eq!(key.id, created.id);
    assert_eq!(key.permissions, ["posts:read"]);
    assert!(matches!(key.owner, ApiKeyOwnerOneOf::ApiKeyOwner(ref o) if o.id == org.id));
    assert!(key.last_used_at.is_some());
    let garbage = workos
        .api_keys()
        .create_validation(CreateValidationParams::new(ValidateApiKey {
            value: "sk_garbage".to_string().into(),
        }))
        .await
        .expect("validate garbage");
    assert!(garbage.api_key.is_none());

    // Expire it: it stops validating. Then delete it.
    let expired = workos
        .api_keys()
        .create_api_key_expire(
            &created.id,
            CreateApiKeyExpireParams::new(ExpireApiKey { expires_at: None }),
        )
        .await
        .expect("expire");
    assert!(expired.expires_at.is_some());
    let after_expiry = workos
        .api_keys()
        .create_validation(CreateValidationParams::new(ValidateApiKey {
            value: created.value.clone(),
        }))
        .await
        .expect("validate expired");
    assert!(after_expiry.api_key.is_none());
    workos
        .api_keys()
        .delete_api_key(&created.id)
        .await
        .expect("delete");
    let err = workos
        .api_keys()
        .delete_api_key(&created.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, workos::Error::Api(ref e) if e.status == 404),
        "{err}"
    );

    // A user key through a membership; deleting the membership stops it.
    let membership = workos
        .organization_membership()
        .create_organization_membership(CreateOrganizationMembershipParams::new(
            CreateOrganizationMembershipParamsBody {
                role: Some(Role::Single {
                    role_slug: "member".into(),
                }),
                ..CreateOrganizationMembershipParamsBody::new(&user.id, &org.id)
            },
        ))
        .await
        .expect("create membership");
    assert_eq!(membership.user.email, "ada@example.com");

    // The directory's other shapes, read through the SDK's own models.
    let orgs = workos
        .organizations()
        .list_organizations(Default::default())
        .await
        .expect("list organizations");
    assert_eq!(orgs.data.len(), 1);
    assert_eq!(
        workos
            .organizations()
            .get_organization(&org.id)
            .await
            .expect("get organization")
            .name,
        "Acme"
    );
    let users = workos
        .user_management()
        .list_users(Default::default())
        .await
        .expect("list users");
    assert_eq!(users.data.len(), 1);
    assert_eq!(
        workos
            .user_management()
            .get_user(&user.id)
            .await
            .expect("get user")
            .email,
        "ada@example.com"
    );
    let memberships = workos
        .organization_membership()
        .list_organization_memberships(ListOrganizationMembershipsParams {
            user_id: Some(user.id.clone()),
            ..Default::default()
        })
        .await
        .expect("list memberships");
    assert_eq!(memberships.data.len(), 1);
    let inactive = workos
        .organization_membership()
        .deactivate_organization_membership(&membership.id)
        .await
        .expect("deactivate");
    assert_eq!(serde_json::to_value(&inactive.status).unwrap(), "inactive");
    workos
        .organization_membership()
        .reactivate_organization_membership(&membership.id)
        .await
        .expect("reactivate");
    let fetched = workos
        .organization_membership()
        .get_organization_membership(&membership.id)
        .await
        .expect("get membership");
    assert_eq!(serde_json::to_value(&fetched.status).unwrap(), "active");
    let user_key = workos
        .user_management()
        .create_user_api_key(
            &user.id,
            CreateUserApiKeyParams::new(CreateUserApiKey {
                name: "laptop".into(),
                organization_id: org.id.clone(),
                permissions: Some(vec!["posts:read".into()]),
                expires_at: None,
            }),
        )
        .await
        .expect("create user key");
    let user_keys = workos
        .user_management()
        .list_user_api_keys(
            &user.id,
            ListUserApiKeysParams {
                organization_id: Some(org.id.clone()),
                ..ListUserApiKeysParams::default()
            },
        )
        .await
        .expect("list user keys");
    assert_eq!(user_keys.data.len(), 1);
    let valid = workos
        .api_keys()
        .create_validation(CreateValidationParams::new(ValidateApiKey {
            value: user_key.value.clone(),
        }))
        .await
        .expect("validate user key");
    assert!(matches!(
        valid.api_key.expect("valid").owner,
        ApiKeyOwnerOneOf::UserApiKeyOwner(ref o) if o.id == user.id
    ));
    workos
        .organization_membership()
        .delete_organization_membership(&membership.id)
        .await
        .expect("delete membership");
    let revoked = workos
        .api_keys()
        .create_validation(CreateValidationParams::new(ValidateApiKey {
            value: user_key.value.clone(),
        }))
        .await
        .expect("validate after membership deletion");
    assert!(revoked.api_key.is_none());

    // The three event kinds, read back through the SDK's own defaults
    // (it sends `order=desc` and comma-joined `events`): newest first.
    let events: Vec<_> = workos
        .events()
        .list_events_auto_paging(ListEventsParams::new(vec![
            "api_key.created".into(),
            "api_key.updated".into(),
            "api_key.revoked".into(),
        ]))
        .try_collect()
        .await
        .expect("list events");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "api_key.revoked",
            "api_key.created",
            "api_key.revoked",
            "api_key.updated",
            "api_key.created"
        ]
    );
    assert_eq!(
        events[3].data["previous_attributes"]["expires_at"],
        serde_json::Value::Null
    );
    assert_eq!(events[0].data["id"], user_key.id.as_str());
}
