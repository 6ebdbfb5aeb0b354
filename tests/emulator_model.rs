//! A model-based test of the emulator: random sequences of organization,
//! user, membership and key operations (create, delete, deactivate,
//! reactivate, expire now, expire later, clear expiry, let time pass) run
//! against the emulator over HTTP through `keygate::Client` and against a
//! plain model of the rules in `WIRE.md`. After every step, every key ever
//! issued is validated and must agree with the model: valid or `null`, and
//! when valid, the same id, owner, permissions and expiry. Every operation's
//! success or error status must agree too.

mod support;

use std::collections::HashMap;
use std::sync::OnceLock;

use keygate::Client;
use keygate::emulator::Emulator;
use keygate::types::{
    CreateMembership, CreateOrganizationApiKey, CreateUserApiKey, Expiry, MembershipId,
    OrganizationId, Owner, SecretString, Timestamp, UserId,
};
use proptest::prelude::*;
use support::trace_capture;

/// The model's clock starts here (2030-01-01T00:00:00Z), in seconds.
const EPOCH: i64 = 1_893_456_000;

/// Picks one of the entities made so far (any of them, deleted ones too):
/// the number modulo how many there are.
type Pick = u64;

#[derive(Debug, Clone)]
enum Op {
    CreateOrganization,
    CreateUser,
    CreateMembership(Pick, Pick),
    Deactivate(Pick),
    Reactivate(Pick),
    DeleteMembership(Pick),
    CreateOrganizationKey(Pick, Option<i64>),
    CreateUserKey(Pick, Pick),
    DeleteKey(Pick),
    ExpireNow(Pick),
    ExpireIn(Pick, i64),
    ClearExpiry(Pick),
    AdvanceTime(i64),
    DeleteOrganization(Pick),
    DeleteUser(Pick),
}

fn op() -> impl Strategy<Value = Op> {
    let i = any::<Pick>;
    prop_oneof![
        2 => Just(Op::CreateOrganization),
        2 => Just(Op::CreateUser),
        3 => (i(), i()).prop_map(|(u, o)| Op::CreateMembership(u, o)),
        1 => i().prop_map(Op::Deactivate),
        1 => i().prop_map(Op::Reactivate),
        1 => i().prop_map(Op::DeleteMembership),
        3 => (i(), prop::option::of(1i64..60)).prop_map(|(o, e)| Op::CreateOrganizationKey(o, e)),
        3 => (i(), i()).prop_map(|(u, o)| Op::CreateUserKey(u, o)),
        1 => i().prop_map(Op::DeleteKey),
        1 => i().prop_map(Op::ExpireNow),
        1 => (i(), 1i64..60).prop_map(|(k, s)| Op::ExpireIn(k, s)),
        1 => i().prop_map(Op::ClearExpiry),
        2 => (0i64..90).prop_map(Op::AdvanceTime),
        1 => i().prop_map(Op::DeleteOrganization),
        1 => i().prop_map(Op::DeleteUser),
    ]
}

#[derive(Debug)]
struct KeyModel {
    id: String,
    value: SecretString,
    owner: (Option<usize>, usize), // (user, organization)
    permissions: Vec<String>,
    expires_at: Option<i64>,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Model {
    now: i64,
    orgs: Vec<(OrganizationId, bool)>,
    users: Vec<(UserId, bool)>,
    /// (user, organization) -> (id, active); only existing memberships.
    memberships: HashMap<(usize, usize), (MembershipId, bool)>,
    /// Every membership ever made, for picking (deleted ones too).
    membership_log: Vec<(usize, usize, MembershipId)>,
    keys: Vec<KeyModel>,
}

impl Model {
    fn expired(&self, k: &KeyModel) -> bool {
        k.expires_at.is_some_and(|at| at <= self.now)
    }

    /// What `POST /api_keys/validations` must say for `k`.
    fn valid(&self, k: &KeyModel) -> bool {
        !k.revoked
            && !self.expired(k)
            && match k.owner {
                (None, _) => true,
                (Some(u), o) => self
                    .memberships
                    .get(&(u, o))
                    .is_some_and(|(_, active)| *active),
            }
    }

    fn revoke(&mut self, hit: impl Fn(&KeyModel) -> bool) {
        for k in &mut self.keys {
            if hit(k) {
                k.revoked = true;
            }
        }
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_timestamp(EPOCH + seconds).expect("in range")
}

fn pick<T>(items: &[T], pick: &Pick) -> Option<usize> {
    let len = u64::try_from(items.len()).ok()?;
    (len > 0).then(|| usize::try_from(pick % len).unwrap_or(0))
}

/// The status an operation answered: 2xx as 200, errors as their status.
fn status<T>(result: &Result<T, keygate::client::Error>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(e) => e.status().map_or(0, |s| s.as_u16()),
    }
}

struct Harness<'a> {
    emu: &'a Emulator,
    client: Client,
    model: Model,
    serial: u32,
}

impl Harness<'_> {
    /// Runs one operation on both sides; returns (expected, got) statuses.
    async fn apply(&mut self, op: &Op) -> (u16, u16) {
        let m = &mut self.model;
        // Each step starts one second after the last, and the emulator's
        // clock is put there: it ticks on by milliseconds during the step,
        // never across a whole second, so it never crosses an expiry the
        // model has not, and it never goes back.
        m.now += 1;
        self.emu.set_time(at(m.now));
        self.serial += 1;
        match op {
            Op::CreateOrganization => {
                let org = self
                    .emu
                    .create_organization(&format!("org {}", self.serial))
                    .expect("org");
                m.orgs.push((org.id, true));
                (200, 200)
            }
            Op::CreateUser => {
                let user = self
                    .emu
                    .create_user(&format!("user{}@example.com", self.serial))
                    .expect("user");
                m.users.push((user.id, true));
                (200, 200)
            }
            Op::CreateMembership(u, o) => {
                let (Some(u), Some(o)) = (pick(&m.users, u), pick(&m.orgs, o)) else {
                    return (0, 0);
                };
                let want = if !m.users[u].1 || !m.orgs[o].1 {
                    404
                } else if m.memberships.contains_key(&(u, o)) {
                    422
                } else {
                    200
                };
                let got = self
                    .client
                    .create_membership(CreateMembership {
                        user_id: m.users[u].0.clone(),
                        organization_id: m.orgs[o].0.clone(),
                        role_slug: None,
                    })
                    .await;
                if let Ok(ms) = &got {
                    m.memberships.insert((u, o), (ms.id.clone(), true));
                    m.membership_log.push((u, o, ms.id.clone()));
                }
                (want, status(&got))
            }
            Op::Deactivate(i) | Op::Reactivate(i) | Op::DeleteMembership(i) => {
                let Some(i) = pick(&m.membership_log, i) else {
                    return (0, 0);
                };
                let (u, o, id) = m.membership_log[i].clone();
                let exists = m
                    .memberships
                    .get(&(u, o))
                    .is_some_and(|(mid, _)| *mid == id);
                let want = if exists { 200 } else { 404 };
                let got = match op {
                    Op::Deactivate(_) => status(&self.client.deactivate_membership(&id).await),
                    Op::Reactivate(_) => status(&self.client.reactivate_membership(&id).await),
                    _ => status(&self.client.delete_membership(&id).await),
                };
                if got == 200 {
                    match op {
                        Op::Deactivate(_) => m.memberships.insert((u, o), (id, false)),
                        Op::Reactivate(_) => m.memberships.insert((u, o), (id, true)),
                        _ => {
                            m.revoke(|k| k.owner == (Some(u), o));
                            m.memberships.remove(&(u, o))
                        }
                    };
                }
                (want, got)
            }
            Op::CreateOrganizationKey(o, expires_in) => {
                let Some(o) = pick(&m.orgs, o) else {
                    return (0, 0);
                };
                let want = if m.orgs[o].1 { 200 } else { 404 };
                let expires_at = expires_in.map(|s| m.now + s);
                let permissions = vec![format!("perm:{}", self.serial % 3)];
                let got = self
                    .client
                    .create_organization_api_key(
                        &m.orgs[o].0,
                        CreateOrganizationApiKey {
                            name: format!("key {}", self.serial),
                            permissions: permissions.clone(),
                            expires_at: expires_at.map(at),
                        },
                    )
                    .await;
                if let Ok(created) = &got {
                    m.keys.push(KeyModel {
                        id: created.api_key.id.to_string(),
                        value: {
                            trace_capture::secret(created.value.expose_secret());
                            created.value.clone()
                        },
                        owner: (None, o),
                        permissions,
                        expires_at,
                        revoked: false,
                    });
                }
                (want, status(&got))
            }
            Op::CreateUserKey(u, o) => {
                let (Some(u), Some(o)) = (pick(&m.users, u), pick(&m.orgs, o)) else {
                    return (0, 0);
                };
                let active = m.memberships.get(&(u, o)).is_some_and(|(_, a)| *a);
                let want = if !m.users[u].1 || !m.orgs[o].1 {
                    404
                } else if !active {
                    422
                } else {
                    200
                };
                let got = self
                    .client
                    .create_user_api_key(
                        &m.users[u].0,
                        CreateUserApiKey {
                            name: format!("user key {}", self.serial),
                            organization_id: m.orgs[o].0.clone(),
                            permissions: vec![],
                            expires_at: None,
                        },
                    )
                    .await;
                if let Ok(created) = &got {
                    m.keys.push(KeyModel {
                        id: created.api_key.id.to_string(),
                        value: {
                            trace_capture::secret(created.value.expose_secret());
                            created.value.clone()
                        },
                        owner: (Some(u), o),
                        permissions: vec![],
                        expires_at: None,
                        revoked: false,
                    });
                }
                (want, status(&got))
            }
            Op::DeleteKey(k) | Op::ExpireNow(k) | Op::ExpireIn(k, _) | Op::ClearExpiry(k) => {
                let Some(k) = pick(&m.keys, k) else {
                    return (0, 0);
                };
                let id = keygate::types::ApiKeyId::new_unchecked(m.keys[k].id.clone());
                let (revoked, expired) = (m.keys[k].revoked, m.expired(&m.keys[k]));
                if let Op::DeleteKey(_) = op {
                    let got = status(&self.client.delete_api_key(&id).await);
                    if got == 200 {
                        m.keys[k].revoked = true;
                    }
                    return (if revoked { 404 } else { 200 }, got);
                }
                let want = if revoked {
                    404
                } else if expired {
                    409
                } else {
                    200
                };
                let (expiry, new) = match op {
                    Op::ExpireNow(_) => (Expiry::Now, Some(m.now)),
                    Op::ExpireIn(_, s) => (Expiry::At(at(m.now + s)), Some(m.now + s)),
                    _ => (Expiry::Clear, None),
                };
                let got = self.client.expire_api_key(&id, expiry).await;
                if got.is_ok() {
                    m.keys[k].expires_at = new;
                }
                (want, status(&got))
            }
            Op::AdvanceTime(s) => {
                m.now += s;
                self.emu.set_time(at(m.now));
                (200, 200)
            }
            Op::DeleteOrganization(o) => {
                let Some(o) = pick(&m.orgs, o) else {
                    return (0, 0);
                };
                let want = if m.orgs[o].1 { 200 } else { 404 };
                let got = status(&self.client.delete_organization(&m.orgs[o].0).await);
                if got == 200 {
                    m.orgs[o].1 = false;
                    m.revoke(|k| k.owner.1 == o);
                    m.memberships.retain(|(_, mo), _| *mo != o);
                }
                (want, got)
            }
            Op::DeleteUser(u) => {
                let Some(u) = pick(&m.users, u) else {
                    return (0, 0);
                };
                let want = if m.users[u].1 { 200 } else { 404 };
                let got = status(&self.client.delete_user(&m.users[u].0).await);
                if got == 200 {
                    m.users[u].1 = false;
                    m.revoke(|k| k.owner.0 == Some(u));
                    m.memberships.retain(|(mu, _), _| *mu != u);
                }
                (want, got)
            }
        }
    }

    /// Validates every key ever issued; returns the disagreements.
    async fn check_validations(&self) -> Vec<String> {
        let m = &self.model;
        let mut wrong = Vec::new();
        for k in &m.keys {
            let got = self
                .client
                .validate_api_key(k.value.expose_secret())
                .await
                .expect("validation answers");
            let want = m.valid(k);
            match got {
                None if !want => {}
                Some(key) if want => {
                    let org = &m.orgs[k.owner.1].0;
                    let owner_ok = match (&key.owner, k.owner.0) {
                        (Owner::Organization { id }, None) => id == org,
                        (
                            Owner::User {
                                id,
                                organization_id,
                            },
                            Some(u),
                        ) => *id == m.users[u].0 && organization_id == org,
                        _ => false,
                    };
                    if key.id.as_str() != k.id
                        || !owner_ok
                        || key.permissions != k.permissions
                        || key.expires_at != k.expires_at.map(at)
                    {
                        wrong.push(format!("{}: served {key:?}, model {k:?}", k.id));
                    }
                }
                got => wrong.push(format!(
                    "{}: emulator says {}, model says {} ({k:?}, now +{}s)",
                    k.id,
                    if got.is_some() { "valid" } else { "null" },
                    if want { "valid" } else { "null" },
                    m.now
                )),
            }
        }
        let unknown = self
            .client
            .validate_api_key("sk_never_issued_by_anyone_0123456789")
            .await
            .expect("validation answers");
        if unknown.is_some() {
            wrong.push("an unknown value validated".into());
        }
        wrong
    }
}

fn world() -> &'static (tokio::runtime::Runtime, Emulator) {
    static WORLD: OnceLock<(tokio::runtime::Runtime, Emulator)> = OnceLock::new();
    WORLD.get_or_init(|| {
        trace_capture::install();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let emu = rt.block_on(Emulator::start()).expect("the emulator starts");
        trace_capture::secret(emu.secret().expose_secret());
        (rt, emu)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(16),
        // Failures print the shrunk sequence; no regression files in tests/.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn validation_always_agrees_with_the_model(ops in prop::collection::vec(op(), 1..32)) {
        let (rt, emu) = world();
        rt.block_on(async {
            emu.reset();
            let mut h = Harness {
                emu,
                client: support::app::client(emu.base_url(), emu.secret()),
                model: Model::default(),
                serial: 0,
            };
            // A populated world to act on from the first step: two
            // organizations, two users, three memberships, a key of each kind
            // for each. Random steps then mostly hit something that exists.
            for setup in [
                Op::CreateOrganization,
                Op::CreateOrganization,
                Op::CreateUser,
                Op::CreateUser,
                Op::CreateMembership(0, 0),
                Op::CreateMembership(1, 0),
                Op::CreateMembership(0, 1),
                Op::CreateOrganizationKey(0, None),
                Op::CreateOrganizationKey(1, Some(30)),
                Op::CreateUserKey(0, 0),
                Op::CreateUserKey(1, 0),
                Op::CreateUserKey(0, 1),
            ] {
                let (want, got) = h.apply(&setup).await;
                prop_assert_eq!(got, want, "setup {:?}", setup);
            }
            for (step, op) in ops.iter().enumerate() {
                let (want, got) = h.apply(op).await;
                prop_assert_eq!(got, want, "step {}: {:?}", step, op);
                let wrong = h.check_validations().await;
                prop_assert!(wrong.is_empty(), "after step {} ({:?}):\n{}", step, op, wrong.join("\n"));
            }
            trace_capture::assert_no_secret_logged();
            Ok(())
        })?;
    }
}

/// `PROPTEST_CASES` runs more (or fewer) cases than the default 16.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
