//! The library API: start an emulator, set it up, control it, stop it.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use keygate_types::{
    ApiKey, CreateOrganization, CreateUser, CreatedApiKey, Event, Expiry, MembershipStatus,
    Organization, OrganizationId, OrganizationMembership, Owner, SecretString, Timestamp, User,
    UserId,
};

use crate::auth::EnvironmentSecrets;
use crate::clock::Clock;
use crate::counters::Counters;
use crate::environment::Environment;
use crate::faults::FaultSet;
use crate::server::Server;
use crate::store::{NewKey, Policy, Store};
use crate::{Error, Fault, Seed};

/// The default cap on request bodies: 64 KiB, far above any real request.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// A running key-service emulator, serving WorkOS's API-keys endpoints on a
/// local port. It shuts down when dropped.
///
/// ```
/// use keygate_emulator::{Emulator, Fault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let emu = Emulator::builder()
///     .organization_permissions(["posts:read", "posts:write"])
///     .start()
///     .await?;
/// let org = emu.create_organization("Acme")?;
/// let key = emu.create_organization_key(&org.id, "ci", &["posts:read"])?;
///
/// // Point the code under test at `emu.base_url()` with `emu.secret()`, then:
/// assert!(key.value.expose_secret().starts_with("sk_"));
/// assert_eq!(emu.request_count("POST", "/api_keys/validations"), 0);
///
/// // Make the next validation fail, to test the unhappy path.
/// emu.inject_fault(Fault::new("POST", "/api_keys/validations").status(503).times(1));
/// emu.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Emulator {
    env: Arc<Environment>,
    server: Server,
    base_url: String,
}

/// Configures an [`Emulator`] before it starts. From [`Emulator::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorBuilder {
    secrets: Vec<SecretString>,
    organization_permissions: Option<Vec<String>>,
    user_permissions: Option<Vec<String>>,
    seed: Option<Seed>,
    seed_file: Option<PathBuf>,
    bind: SocketAddr,
    body_limit: usize,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            organization_permissions: None,
            user_permissions: None,
            seed: None,
            seed_file: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

impl EmulatorBuilder {
    /// Accepts this environment secret. Repeat for several; when none is
    /// given, a random `sk_test_…` one is made (see [`Emulator::secret`]).
    pub fn secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// The permissions organization keys may carry. Without it, any
    /// well-formed slug is allowed.
    pub fn organization_permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.organization_permissions = Some(permissions.into_iter().map(Into::into).collect());
        self
    }

    /// The permissions user keys may carry. Without it, any well-formed slug
    /// is allowed.
    pub fn user_permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.user_permissions = Some(permissions.into_iter().map(Into::into).collect());
        self
    }

    /// Creates the seed's contents at start. Allow-lists set on the builder
    /// take precedence over the seed's.
    pub fn seed(mut self, seed: Seed) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Reads a JSON seed file at start (after [`seed`](Self::seed), if both are given).
    pub fn seed_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.seed_file = Some(path.into());
        self
    }

    /// Listens here; `127.0.0.1:0` (a free local port) by default.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Caps request bodies at this many bytes (larger ones get a 413);
    /// [`DEFAULT_BODY_LIMIT`] by default.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Applies the seeds and starts serving on a task of the current Tokio runtime.
    pub async fn start(self) -> Result<Emulator, Error> {
        let mut seeds: Vec<Seed> = self.seed.into_iter().collect();
        if let Some(path) = &self.seed_file {
            seeds.push(Seed::from_file(path)?);
        }
        let pick = |builder: Option<Vec<String>>, from_seed: fn(&Seed) -> Option<&Vec<String>>| {
            builder
                .or_else(|| seeds.iter().rev().find_map(|s| from_seed(s).cloned()))
                .map(|list| list.into_iter().collect::<HashSet<_>>())
        };
        let policy = Policy {
            organization_permissions: pick(self.organization_permissions, |s| {
                s.organization_permissions.as_ref()
            }),
            user_permissions: pick(self.user_permissions, |s| s.user_permissions.as_ref()),
        };
        let env = Arc::new(Environment {
            store: Store::new(policy),
            clock: Clock::default(),
            faults: FaultSet::default(),
            counters: Counters::default(),
            secrets: EnvironmentSecrets::new(self.secrets),
            body_limit: self.body_limit,
        });
        for seed in &seeds {
            let now = env.clock.now();
            seed.apply(&mut env.store.lock(), &env.store.policy, now)?;
        }
        let server = Server::spawn(env.clone(), self.bind).await?;
        let base_url = format!("http://{}", server.local_addr);
        Ok(Emulator {
            env,
            server,
            base_url,
        })
    }
}

impl Emulator {
    /// Starts an emulator with the defaults: `127.0.0.1` on a free port, a
    /// generated `sk_test_…` secret, no allow-lists, no data.
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// A builder, to configure secrets, allow-lists, seeds and the address.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr
    }

    /// The first accepted environment secret: send it as `Authorization: Bearer …`.
    pub fn secret(&self) -> &SecretString {
        self.env.secrets.first()
    }

    /// Creates an organization.
    pub fn create_organization(&self, name: &str) -> Result<Organization, Error> {
        let now = self.now();
        self.env.store.lock().create_organization(
            CreateOrganization {
                name: name.to_owned(),
                ..CreateOrganization::default()
            },
            now,
        )
    }

    /// Creates a user.
    pub fn create_user(&self, email: &str) -> Result<User, Error> {
        let now = self.now();
        self.env.store.lock().create_user(
            CreateUser {
                email: email.to_owned(),
                ..CreateUser::default()
            },
            now,
        )
    }

    /// Makes `user` an active member of `organization`, with role `member`.
    pub fn create_membership(
        &self,
        user: &UserId,
        organization: &OrganizationId,
    ) -> Result<OrganizationMembership, Error> {
        let now = self.now();
        self.env
            .store
            .lock()
            .create_membership(user.clone(), organization.clone(), Vec::new(), now)
    }

    /// Deactivates a membership: the user's keys there validate as `null`
    /// until it is reactivated.
    pub fn deactivate_membership(&self, id: &str) -> Result<OrganizationMembership, Error> {
        let now = self.now();
        self.env
            .store
            .lock()
            .set_membership_status(id, MembershipStatus::Inactive, now)
    }

    /// Reactivates a membership.
    pub fn reactivate_membership(&self, id: &str) -> Result<OrganizationMembership, Error> {
        let now = self.now();
        self.env
            .store
            .lock()
            .set_membership_status(id, MembershipStatus::Active, now)
    }

    /// Deletes a membership, revoking the user's keys in that organization.
    pub fn delete_membership(&self, id: &str) -> Result<(), Error> {
        let now = self.now();
        self.env.store.lock().delete_membership(id, now)
    }

    /// Creates an organization-owned key. The value is in the answer only.
    pub fn create_organization_key(
        &self,
        organization: &OrganizationId,
        name: &str,
        permissions: &[&str],
    ) -> Result<CreatedApiKey, Error> {
        self.create_key(
            Owner::Organization {
                id: organization.clone(),
            },
            name,
            permissions,
        )
    }

    /// Creates a user-owned key; the user needs an active membership in `organization`.
    pub fn create_user_key(
        &self,
        user: &UserId,
        organization: &OrganizationId,
        name: &str,
        permissions: &[&str],
    ) -> Result<CreatedApiKey, Error> {
        self.create_key(
            Owner::User {
                id: user.clone(),
                organization_id: organization.clone(),
            },
            name,
            permissions,
        )
    }

    fn create_key(
        &self,
        owner: Owner,
        name: &str,
        permissions: &[&str],
    ) -> Result<CreatedApiKey, Error> {
        let now = self.now();
        self.env.store.lock().create_key(
            &self.env.store.policy,
            NewKey {
                owner,
                name: name.to_owned(),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                expires_at: None,
                value: None,
            },
            now,
        )
    }

    /// A key as the service describes it now, if it exists.
    pub fn api_key(&self, id: &str) -> Option<ApiKey> {
        self.env.store.lock().keys.get(id).cloned()
    }

    /// Deletes (revokes) a key.
    pub fn delete_api_key(&self, id: &str) -> Result<(), Error> {
        let now = self.now();
        self.env.store.lock().delete_key(id, now)
    }

    /// Expires a key now, at a time, or clears its expiry, like `POST /api_keys/{id}/expire`.
    pub fn expire_api_key(&self, id: &str, expiry: Expiry) -> Result<ApiKey, Error> {
        let now = self.now();
        self.env.store.lock().expire_key(id, expiry, now)
    }

    /// Every event kept, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.env.store.lock().events.since(None).cloned().collect()
    }

    /// How many requests the service got for `method` on `route`: a route
    /// template such as `/api_keys/{id}` (as the router writes it), or a path
    /// for requests no route matched. Faulted and unauthorized requests count.
    pub fn request_count(&self, method: &str, route: &str) -> u64 {
        self.env.counters.get(method, route)
    }

    /// Adds a fault; faults are tried in the order added.
    pub fn inject_fault(&self, fault: Fault) {
        self.env.faults.inject(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.env.faults.clear();
    }

    /// Sets the emulator's clock to `at`; it ticks on from there.
    pub fn set_time(&self, at: Timestamp) {
        self.env.clock.set(at);
    }

    /// Moves the emulator's clock forward.
    pub fn advance_time(&self, by: std::time::Duration) {
        let by = time::Duration::try_from(by).unwrap_or(time::Duration::MAX);
        self.env.clock.advance(by);
    }

    /// The emulator's current time.
    pub fn now(&self) -> Timestamp {
        self.env.clock.now()
    }

    /// Empties the store, counters and faults, and puts the clock back on
    /// system time. Secrets and allow-lists stay.
    pub fn reset(&self) {
        self.env.reset();
    }

    /// Stops serving, waiting a few seconds at most for requests in flight.
    pub async fn shutdown(mut self) {
        self.server.shutdown().await;
    }
}

#[cfg(test)]
impl Emulator {
    /// The whole store, as its `Debug` form: what a memory dump would show.
    pub(crate) fn dump_state(&self) -> String {
        format!("{:?}", *self.env.store.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_types::Expiry;

    /// No created value may be found anywhere in the store, whichever way the
    /// key was made or changed.
    #[tokio::test]
    async fn the_store_never_holds_a_value_in_plaintext() {
        let emu = Emulator::start().await.unwrap();
        let org = emu.create_organization("Acme").unwrap();
        let user = emu.create_user("ada@example.com").unwrap();
        emu.create_membership(&user.id, &org.id).unwrap();
        let mut values = Vec::new();
        let a = emu
            .create_organization_key(&org.id, "a", &["posts:read"])
            .unwrap();
        let b = emu.create_user_key(&user.id, &org.id, "b", &[]).unwrap();
        emu.expire_api_key(b.id.as_str(), Expiry::Clear).unwrap();
        let http = reqwest::Client::new();
        let created: serde_json::Value = http
            .post(format!(
                "{}/organizations/{}/api_keys",
                emu.base_url(),
                org.id
            ))
            .bearer_auth(emu.secret().expose_secret())
            .json(&serde_json::json!({"name": "c"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        values.push(created["value"].as_str().unwrap().to_owned());
        for key in [&a, &b] {
            values.push(key.value.expose_secret().to_owned());
            let answer: serde_json::Value = http
                .post(format!("{}/api_keys/validations", emu.base_url()))
                .bearer_auth(emu.secret().expose_secret())
                .json(&serde_json::json!({"value": key.value.expose_secret()}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(answer["api_key"].is_object());
        }
        let state = emu.dump_state();
        assert!(state.contains(a.id.as_str()), "the dump shows the store");
        for value in &values {
            // The whole value, and its secret part without the `sk_` prefix.
            assert!(!state.contains(value.as_str()));
            assert!(!state.contains(&value[3..]));
            assert!(!format!("{:?}", emu.events()).contains(&value[3..]));
        }
    }
}
