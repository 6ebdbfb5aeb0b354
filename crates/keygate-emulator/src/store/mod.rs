//! The emulator's state: keys, the directory (organizations, users,
//! memberships), the event log, idempotency records, webhook endpoints and
//! what tokens rest on (signing keys, M2M applications, sessions), behind
//! one lock, kept by a [`Storage`] (memory, or a SQLite file with the
//! `sqlite` feature).
//!
//! Every operation takes the lock, does its work without awaiting, and lets
//! go; rules that span concepts (deleting a membership revokes its keys and
//! records events) run under one lock, so no request sees half of a change.
//! A write's changed rows go to the storage in one transaction before the
//! lock is released, so an answer is sent only for a write that is kept.

mod catalogue;
mod changes;
mod directory;
mod events;
mod idempotency;
mod keys;
mod page;
#[cfg(feature = "sqlite")]
mod sqlite;
mod storage;
#[cfg(test)]
mod tests;
mod tokens;
mod webhook_endpoints;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub(crate) use changes::{Changes, Row};
pub(crate) use directory::{Directory, MembershipFilter, UserFilter};
pub(crate) use events::{EventFilter, EventLog};
pub(crate) use idempotency::{Idempotency, MAX_KEY_LEN as MAX_IDEMPOTENCY_KEY_LEN, Replay};
pub(crate) use keys::{KeyRecord, KeyTable, NewKey, ValueDigest, digest};
pub(crate) use page::{Page, PageRequest};
#[cfg(feature = "sqlite")]
pub(crate) use sqlite::SqliteStorage;
pub(crate) use storage::{MemoryStorage, Storage};
pub(crate) use tokens::{Application, NewApplication, TokenRecords};
pub(crate) use webhook_endpoints::Registered;
pub use webhook_endpoints::WebhookEndpoint;

use keygate_types::{Event, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::Error;
use crate::ids::IdGenerator;

/// The permission allow-lists: which slugs organization and user keys may
/// carry. `None` allows any well-formed slug.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Policy {
    pub(crate) organization_permissions: Option<HashSet<String>>,
    pub(crate) user_permissions: Option<HashSet<String>>,
    /// The permission catalogue (names and descriptions of slugs).
    #[serde(default)]
    pub(crate) catalogue: catalogue::Catalogue,
}

/// Everything the emulator remembers.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) ids: IdGenerator,
    pub(crate) policy: Policy,
    pub(crate) keys: KeyTable,
    pub(crate) directory: Directory,
    pub(crate) events: EventLog,
    pub(crate) idempotency: Idempotency,
    /// Registered webhook endpoints by id, with their signing secrets.
    pub(crate) webhook_endpoints: BTreeMap<String, Registered>,
    /// The client id, signing keys, M2M applications and sessions.
    pub(crate) tokens: TokenRecords,
    /// The settable clock's offset from system time, in milliseconds.
    pub(crate) clock_offset_ms: i64,
    /// The rows changed since the last commit.
    pub(crate) changes: Changes,
    /// Whether `last_used_at` changes are worth keeping (a durable storage).
    pub(crate) track_last_use: bool,
    /// Events recorded since the last commit, for webhook delivery once kept.
    pub(crate) unsent: Vec<Event>,
}

impl State {
    /// Forgets the data, but not the configuration (allow-lists, webhook
    /// endpoints, the client id and signing keys) nor the id generator,
    /// whose order must survive.
    pub(crate) fn reset(&mut self) {
        self.keys = KeyTable::default();
        self.tokens.applications.clear();
        self.tokens.sessions.clear();
        self.directory = Directory::default();
        self.events = EventLog::default();
        self.idempotency = Idempotency::default();
        self.clock_offset_ms = 0;
        self.unsent.clear();
        self.changes.clear_data();
    }
}

/// The state and where it is kept.
#[derive(Debug)]
struct Inner {
    state: State,
    storage: Box<dyn Storage>,
    /// Where new events go for webhook delivery, once webhooks are running.
    outbox: Option<UnboundedSender<Event>>,
}

/// The state behind its lock, with its storage.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(Box::new(MemoryStorage))
    }
}

impl Store {
    /// A store kept by `storage`, empty until [`load`](Self::load).
    pub(crate) fn new(storage: Box<dyn Storage>) -> Self {
        let state = State {
            track_last_use: storage.durable(),
            ..State::default()
        };
        Self {
            inner: Mutex::new(Inner {
                state,
                storage,
                outbox: None,
            }),
        }
    }

    /// Reads what the storage kept; `false` when it kept nothing (a new file,
    /// or memory), so that seeds apply once.
    pub(crate) fn load(&self) -> Result<bool, Error> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.storage.load(&mut inner.state)
    }

    /// Sends each event kept from now on to `outbox`.
    pub(crate) fn set_outbox(&self, outbox: UnboundedSender<Event>) {
        self.lock().outbox = Some(outbox);
    }

    /// Locks the state. A panic while it was held cannot leave it torn (each
    /// operation checks before it changes anything), so a poisoned lock is
    /// taken over rather than turned into more panics.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock().state)
    }

    /// Changes the state and keeps the change before returning: the rows `f`
    /// changed are committed in one transaction. When the storage fails, the
    /// state is read back from it (so memory never holds what the file does
    /// not) and the write fails with [`Error::Storage`].
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let result = f(&mut inner.state);
        inner.commit()?;
        result
    }

    /// Validates a presented value's digest, and hands the key (borrowed,
    /// under the lock) to `answer`. Not a kept write: `last_used_at` is kept
    /// with the next write or at shutdown.
    pub(crate) fn validate<R>(
        &self,
        digest: &ValueDigest,
        now: Timestamp,
        answer: impl FnOnce(Option<&KeyRecord>) -> R,
    ) -> R {
        let mut guard = self.lock();
        answer(guard.state.validate(digest, now))
    }

    /// Keeps what is not kept yet and lets go of the storage (a state file
    /// is closed, so another emulator may open it); the state stays readable
    /// in memory, and later writes are not kept.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        if let Err(e) = inner.commit() {
            tracing::error!(error = %e, "could not keep the last changes at close");
        }
        inner.storage = Box::new(MemoryStorage);
        inner.state.track_last_use = false;
    }
}

impl Inner {
    fn commit(&mut self) -> Result<(), Error> {
        if self.state.changes.is_empty() {
            return Ok(());
        }
        let changes = std::mem::take(&mut self.state.changes);
        if let Err(e) = self.storage.commit(&self.state, &changes) {
            tracing::error!(error = %e, "could not keep a change; reading the state back");
            let mut kept = State {
                track_last_use: self.state.track_last_use,
                ..State::default()
            };
            if let Some(last) = self.state.ids.last() {
                kept.ids.resume_after(last);
            }
            match self.storage.load(&mut kept) {
                Ok(_) => self.state = kept,
                Err(e) => tracing::error!(error = %e, "could not read the state back"),
            }
            return Err(e);
        }
        let unsent = std::mem::take(&mut self.state.unsent);
        if let Some(outbox) = &self.outbox {
            for event in unsent {
                // The receiver only goes away with the emulator.
                let _ = outbox.send(event);
            }
        }
        Ok(())
    }
}
