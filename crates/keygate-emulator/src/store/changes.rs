//! Which rows a write changed, so that a storage keeps exactly those.
//!
//! A write names the rows it touched; at commit the storage reads each one
//! from the state: present means written, absent means deleted. So the
//! record cannot disagree with the state it describes.

use std::collections::BTreeSet;

/// One kept row: its table and id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Row {
    Organization(String),
    User(String),
    Membership(String),
    ApiKey(String),
    Event(String),
    /// An idempotency record, by its `Idempotency-Key`.
    Idempotency(String),
    WebhookEndpoint(String),
    /// An M2M application, by its client id.
    M2mApplication(String),
    /// A session, by its id.
    Session(String),
    /// A token signing key, by its `kid`.
    SigningKey(String),
}

/// The rows changed since the last commit.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Every data table was emptied first (a reset).
    pub(crate) cleared: bool,
    pub(crate) rows: BTreeSet<Row>,
    /// The settings (clock offset, allow-lists, the client id) changed.
    pub(crate) settings: bool,
}

impl Changes {
    pub(crate) fn touch(&mut self, row: Row) {
        self.rows.insert(row);
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.cleared && !self.settings && self.rows.is_empty()
    }

    /// A reset: every data row goes, then whatever is written after it.
    pub(crate) fn clear_data(&mut self) {
        self.cleared = true;
        self.settings = true;
        self.rows
            .retain(|row| matches!(row, Row::WebhookEndpoint(_) | Row::SigningKey(_)));
    }
}
