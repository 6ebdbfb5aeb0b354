//! The emulator's in-memory state: keys, the directory (organizations, users,
//! memberships) and the event log, behind one lock.
//!
//! Every operation takes the lock, does its work without awaiting, and lets
//! go; rules that span concepts (deleting a membership revokes its keys and
//! records events) run under one lock, so no request sees half of a change.

mod directory;
mod events;
mod keys;
mod page;

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub(crate) use directory::{Directory, MembershipFilter, UserFilter};
pub(crate) use events::{EventFilter, EventLog};
pub(crate) use keys::{KeyTable, NewKey, digest};
pub(crate) use page::{Page, PageRequest};

use keygate_types::Event;
use tokio::sync::mpsc::UnboundedSender;

use crate::ids::IdGenerator;

/// The permission allow-lists: which slugs organization and user keys may
/// carry. `None` allows any well-formed slug.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub(crate) organization_permissions: Option<HashSet<String>>,
    pub(crate) user_permissions: Option<HashSet<String>>,
}

/// Everything the emulator remembers.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) ids: IdGenerator,
    pub(crate) keys: KeyTable,
    pub(crate) directory: Directory,
    pub(crate) events: EventLog,
    /// Where new events go for webhook delivery, once webhooks are running.
    pub(crate) outbox: Option<UnboundedSender<Event>>,
}

/// The state behind its lock, with the policy that governs it.
#[derive(Debug, Default)]
pub(crate) struct Store {
    state: Mutex<State>,
    pub(crate) policy: Policy,
}

impl Store {
    pub(crate) fn new(policy: Policy) -> Self {
        Self {
            state: Mutex::default(),
            policy,
        }
    }

    /// Locks the state. A panic while it was held cannot leave it torn (each
    /// operation checks before it changes anything), so a poisoned lock is
    /// taken over rather than turned into more panics.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets everything but the id generator, whose order must survive.
    pub(crate) fn reset(&self) {
        let mut state = self.lock();
        state.keys = KeyTable::default();
        state.directory = Directory::default();
        state.events = EventLog::default();
    }
}
