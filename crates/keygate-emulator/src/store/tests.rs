//! One suite for both storages: every test runs on memory and (with the
//! `sqlite` feature) on a SQLite file, and reopens the store where a restart would (memory "reopens" as
//! the same running store), so the two cannot drift apart.

use keygate_types::{
    ApiKey, CreateOrganization, CreateUser, EventPayload, Expiry, MembershipStatus, Owner,
    Timestamp,
};
use serde_json::json;
use time::Duration;

use super::*;

/// A store under test, and how it restarts.
trait Fixture: Sized {
    /// Whether a reopened store is read back from storage.
    const RESTARTS: bool;
    fn open() -> Self;
    fn store(&self) -> &Store;
    fn reopen(self) -> Self;
}

struct Memory(Store);

impl Fixture for Memory {
    const RESTARTS: bool = false;
    fn open() -> Self {
        Memory(Store::default())
    }
    fn store(&self) -> &Store {
        &self.0
    }
    fn reopen(self) -> Self {
        self
    }
}

#[cfg(feature = "sqlite")]
struct Sqlite {
    dir: tempfile::TempDir,
    store: Store,
}

#[cfg(feature = "sqlite")]
impl Sqlite {
    fn at(dir: tempfile::TempDir) -> Self {
        let storage = SqliteStorage::open(&dir.path().join("state.db")).expect("opens");
        let store = Store::new(Box::new(storage));
        store.load().expect("loads");
        Sqlite { dir, store }
    }
}

#[cfg(feature = "sqlite")]
impl Fixture for Sqlite {
    const RESTARTS: bool = true;
    fn open() -> Self {
        Self::at(tempfile::tempdir().expect("temp dir"))
    }
    fn store(&self) -> &Store {
        &self.store
    }
    fn reopen(self) -> Self {
        let Sqlite { dir, store } = self;
        store.close();
        drop(store);
        Self::at(dir)
    }
}

fn now() -> Timestamp {
    Timestamp::now()
}

fn org(store: &Store, name: &str) -> keygate_types::Organization {
    store
        .write(|s| {
            s.create_organization(
                CreateOrganization {
                    name: name.to_owned(),
                    ..CreateOrganization::default()
                },
                now(),
            )
        })
        .unwrap()
}

fn user(store: &Store, email: &str) -> keygate_types::User {
    store
        .write(|s| {
            s.create_user(
                CreateUser {
                    email: email.to_owned(),
                    ..CreateUser::default()
                },
                now(),
            )
        })
        .unwrap()
}

fn key(store: &Store, owner: Owner, name: &str) -> keygate_types::CreatedApiKey {
    store
        .write(|s| {
            s.create_key(
                NewKey {
                    owner,
                    name: name.to_owned(),
                    permissions: vec!["posts:read".to_owned()],
                    expires_at: None,
                    value: None,
                    agent_registration_id: None,
                },
                now(),
            )
        })
        .unwrap()
}

fn validates(store: &Store, value: &keygate_types::SecretString) -> Option<ApiKey> {
    store.validate(&digest(value.expose_secret()), now(), |k| {
        k.map(|r| r.api_key.clone())
    })
}

fn all_events(store: &Store) -> Vec<Event> {
    store.read(|s| s.events.since(None).cloned().collect())
}

fn directory_survives_a_restart<F: Fixture>() {
    let f = F::open();
    let acme = org(f.store(), "Acme");
    let ada = user(f.store(), "ada@example.com");
    let m = f
        .store()
        .write(|s| s.create_membership(ada.id.clone(), acme.id.clone(), vec![], now()))
        .unwrap();
    f.store()
        .write(|s| s.set_membership_status(m.id.as_str(), MembershipStatus::Inactive, now()))
        .unwrap();
    let f = f.reopen();
    f.store().read(|s| {
        assert_eq!(s.directory.organization(acme.id.as_str()).unwrap(), &acme);
        assert_eq!(s.directory.user(ada.id.as_str()).unwrap(), &ada);
        let kept = s.directory.membership(m.id.as_str()).unwrap();
        assert_eq!(kept.status, MembershipStatus::Inactive);
        assert_eq!(kept.user.as_ref(), Some(&ada), "served with its user");
        assert!(!s.directory.has_active_membership(&ada.id, &acme.id));
    });
    // The pair index came back too: a second membership is refused.
    let again = f
        .store()
        .write(|s| s.create_membership(ada.id.clone(), acme.id.clone(), vec![], now()));
    assert!(again.is_err());
}

fn keys_validate_as_before_after_a_restart<F: Fixture>() {
    let f = F::open();
    let acme = org(f.store(), "Acme");
    let ada = user(f.store(), "ada@example.com");
    f.store()
        .write(|s| s.create_membership(ada.id.clone(), acme.id.clone(), vec![], now()))
        .unwrap();
    let kept = key(
        f.store(),
        Owner::Organization {
            id: acme.id.clone(),
        },
        "kept",
    );
    let users = key(
        f.store(),
        Owner::User {
            id: ada.id.clone(),
            organization_id: acme.id.clone(),
        },
        "ada",
    );
    let deleted = key(
        f.store(),
        Owner::Organization {
            id: acme.id.clone(),
        },
        "deleted",
    );
    let expired = key(
        f.store(),
        Owner::Organization {
            id: acme.id.clone(),
        },
        "expired",
    );
    f.store()
        .write(|s| s.delete_key(deleted.api_key.id.as_str(), now()))
        .unwrap();
    f.store()
        .write(|s| s.expire_key(expired.api_key.id.as_str(), Expiry::Now, now()))
        .unwrap();
    let used = validates(f.store(), &kept.value).expect("validates");
    let events = all_events(f.store());
    let key_events = events
        .iter()
        .filter(|e| e.payload.name().starts_with("api_key."))
        .count();
    assert_eq!(key_events, 6, "4 created, 1 revoked, 1 updated");

    let f = f.reopen();
    assert_eq!(
        validates(f.store(), &kept.value).unwrap().id,
        kept.api_key.id
    );
    assert_eq!(
        validates(f.store(), &users.value).unwrap().id,
        users.api_key.id
    );
    assert!(validates(f.store(), &deleted.value).is_none());
    assert!(validates(f.store(), &expired.value).is_none());
    assert_eq!(all_events(f.store()), events, "the same events, in order");
    // Cursors continue: new ids sort after the kept ones.
    let later = key(
        f.store(),
        Owner::Organization {
            id: acme.id.clone(),
        },
        "later",
    );
    assert!(later.api_key.id > expired.api_key.id);
    let after = all_events(f.store());
    assert!(after.last().unwrap().id > events.last().unwrap().id);
    // `last_used_at` is kept with the next write.
    let f = f.reopen();
    let kept_key = f
        .store()
        .read(|s| s.keys.get(kept.api_key.id.as_str()).cloned());
    assert!(kept_key.unwrap().last_used_at >= used.last_used_at);
}

fn removing_an_owner_revokes_its_keys_for_good<F: Fixture>() {
    let f = F::open();
    let acme = org(f.store(), "Acme");
    let ada = user(f.store(), "ada@example.com");
    let m = f
        .store()
        .write(|s| s.create_membership(ada.id.clone(), acme.id.clone(), vec![], now()))
        .unwrap();
    let k = key(
        f.store(),
        Owner::User {
            id: ada.id.clone(),
            organization_id: acme.id.clone(),
        },
        "ada",
    );
    let org_key = key(
        f.store(),
        Owner::Organization {
            id: acme.id.clone(),
        },
        "ci",
    );
    f.store()
        .write(|s| s.delete_organization(acme.id.as_str(), now()))
        .unwrap();
    let f = f.reopen();
    assert!(validates(f.store(), &k.value).is_none());
    assert!(validates(f.store(), &org_key.value).is_none());
    f.store().read(|s| {
        assert!(s.directory.organization(acme.id.as_str()).is_err());
        assert!(s.directory.membership(m.id.as_str()).is_err());
        assert!(s.directory.user(ada.id.as_str()).is_ok());
    });
    let revoked = all_events(f.store())
        .into_iter()
        .filter(|e| matches!(e.payload, EventPayload::ApiKeyRevoked(_)))
        .count();
    assert_eq!(revoked, 2);
}

fn an_idempotent_answer_is_replayed_after_a_restart<F: Fixture>() {
    let f = F::open();
    let t = now();
    let body = json!({"object": "api_key", "id": "api_key_1", "value": "sk_secret_value"});
    f.store()
        .write(|s| {
            s.remember("retry-1", "fp".to_owned(), 201, body.clone(), t);
            Ok(())
        })
        .unwrap();
    let f = f.reopen();
    let replay = f
        .store()
        .write(|s| s.replay("retry-1", "fp", t))
        .unwrap()
        .expect("replayed");
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body["id"], "api_key_1");
    // The value is kept in memory only: a restarted store has lost it.
    assert_eq!(replay.body.get("value").is_some(), !F::RESTARTS);
    let other = f.store().write(|s| s.replay("retry-1", "other", t));
    assert_eq!(other.unwrap_err().status(), 422);
    let late = t.saturating_add(Duration::hours(25));
    assert!(
        f.store()
            .write(|s| s.replay("retry-1", "fp", late))
            .unwrap()
            .is_none()
    );
    let f = f.reopen();
    assert!(f.store().read(|s| s.idempotency.get("retry-1").is_none()));
}

fn settings_and_endpoints_survive_a_reset_and_a_restart<F: Fixture>() {
    let f = F::open();
    let acme = org(f.store(), "Acme");
    let endpoint = WebhookEndpoint {
        id: f
            .store()
            .write(|s| Ok(s.ids.webhook_endpoint(now())))
            .unwrap(),
        url: "http://127.0.0.1:9/hooks".to_owned(),
        events: vec![],
        created_at: now(),
    };
    f.store()
        .write(|s| {
            s.add_webhook_endpoint(endpoint.clone(), "whsec_1".into());
            s.policy.user_permissions = Some(["posts:read".to_owned()].into());
            s.clock_offset_ms = 86_400_000;
            s.changes.settings = true;
            Ok(())
        })
        .unwrap();
    let f = f.reopen();
    f.store().read(|s| {
        assert_eq!(s.webhook_endpoint_list(), vec![endpoint.clone()]);
        assert_eq!(
            s.webhook_endpoints[endpoint.id.as_str()]
                .secret
                .expose_secret(),
            "whsec_1"
        );
        assert_eq!(s.clock_offset_ms, 86_400_000);
        assert!(s.policy.user_permissions.is_some());
    });
    f.store()
        .write(|s| {
            s.reset();
            Ok(())
        })
        .unwrap();
    let f = f.reopen();
    f.store().read(|s| {
        assert!(s.directory.organization(acme.id.as_str()).is_err());
        assert!(s.events.since(None).next().is_none());
        assert_eq!(s.clock_offset_ms, 0);
        assert_eq!(s.webhook_endpoint_list(), vec![endpoint.clone()], "kept");
        assert!(s.policy.user_permissions.is_some(), "kept");
    });
}

fn events_past_retention_are_gone_after_a_restart<F: Fixture>() {
    let f = F::open();
    let acme = org(f.store(), "Acme");
    let old = now().saturating_add(-Duration::days(40));
    f.store()
        .write(|s| {
            s.create_key(
                NewKey {
                    owner: Owner::Organization {
                        id: acme.id.clone(),
                    },
                    name: "old".to_owned(),
                    permissions: vec![],
                    expires_at: None,
                    value: None,
                    agent_registration_id: None,
                },
                old,
            )
        })
        .unwrap();
    key(
        f.store(),
        Owner::Organization {
            id: acme.id.clone(),
        },
        "new",
    );
    let f = f.reopen();
    let events = all_events(f.store());
    assert_eq!(events.len(), 1, "the 40-day-old event was dropped");
}

fn token_records_survive_a_restart_and_keys_a_reset<F: Fixture>() {
    use crate::tokens::SigningKey;
    let f = F::open();
    let acme = org(f.store(), "Acme");
    let ada = user(f.store(), "ada@example.com");
    let client_id = f.store().write(|s| Ok(s.client_id_or_new())).unwrap();
    let (first, second) = (SigningKey::generate(), SigningKey::generate());
    let app = f
        .store()
        .write(|s| {
            s.add_signing_key(first.clone());
            s.add_signing_key(second.clone());
            s.create_application(
                NewApplication {
                    organization_id: acme.id.to_string(),
                    name: Some("partner".to_owned()),
                    scopes: vec!["posts:read".to_owned()],
                    secret_digest: [7; 32],
                },
                now(),
            )
        })
        .unwrap();
    let session = |id: &str| keygate_types::Session {
        id: id.to_owned(),
        user_id: ada.id.clone(),
        organization_id: Some(acme.id.clone()),
        status: "active".to_owned(),
        created_at: now(),
        updated_at: now(),
    };
    f.store()
        .write(|s| {
            s.start_session(session("session_a"));
            s.start_session(session("session_b"));
            s.revoke_session("session_a", now())
        })
        .unwrap();
    let f = f.reopen();
    f.store().read(|s| {
        assert_eq!(s.tokens.client_id.as_deref(), Some(client_id.as_str()));
        let kept: Vec<_> = s.tokens.signing_keys.iter().map(SigningKey::jwk).collect();
        assert_eq!(
            kept,
            vec![first.jwk(), second.jwk()],
            "the same keys, in order"
        );
        let record = &s.tokens.applications[&app.client_id];
        assert_eq!(record.application, app);
        assert_eq!(record.secret_digest, [7; 32]);
        assert_eq!(s.tokens.sessions["session_a"].status, "inactive");
        assert_eq!(s.tokens.sessions["session_b"].status, "active");
    });
    f.store()
        .write(|s| {
            s.reset();
            Ok(())
        })
        .unwrap();
    let f = f.reopen();
    f.store().read(|s| {
        assert!(s.tokens.applications.is_empty());
        assert!(s.tokens.sessions.is_empty());
        assert_eq!(
            s.tokens.client_id.as_deref(),
            Some(client_id.as_str()),
            "kept"
        );
        assert_eq!(s.tokens.signing_keys.len(), 2, "kept");
    });
}

/// Instantiates every test of the suite for one fixture.
macro_rules! store_suite {
    ($name:ident, $fixture:ty) => {
        mod $name {
            use super::*;

            #[test]
            fn directory_survives_a_restart() {
                super::directory_survives_a_restart::<$fixture>();
            }
            #[test]
            fn keys_validate_as_before_after_a_restart() {
                super::keys_validate_as_before_after_a_restart::<$fixture>();
            }
            #[test]
            fn removing_an_owner_revokes_its_keys_for_good() {
                super::removing_an_owner_revokes_its_keys_for_good::<$fixture>();
            }
            #[test]
            fn an_idempotent_answer_is_replayed_after_a_restart() {
                super::an_idempotent_answer_is_replayed_after_a_restart::<$fixture>();
            }
            #[test]
            fn settings_and_endpoints_survive_a_reset_and_a_restart() {
                super::settings_and_endpoints_survive_a_reset_and_a_restart::<$fixture>();
            }
            #[test]
            fn events_past_retention_are_gone_after_a_restart() {
                super::events_past_retention_are_gone_after_a_restart::<$fixture>();
            }
            #[test]
            fn token_records_survive_a_restart_and_keys_a_reset() {
                super::token_records_survive_a_restart_and_keys_a_reset::<$fixture>();
            }
        }
    };
}

store_suite!(memory, Memory);
#[cfg(feature = "sqlite")]
store_suite!(sqlite, Sqlite);
