//! Per-organization request counts under a bounded number of labels: the
//! first `limit` organizations seen get a label of their own, for as long as
//! the layer lives; every other one is counted as `other`. A recorder keeps
//! every label it is given, so an unbounded label would let callers with
//! many organizations grow the process (and the scrape) without limit.

use std::sync::{PoisonError, RwLock};

use hashbrown::HashMap;

use ::metrics::{Key, Label};

/// The counter's name.
pub(super) const ORGANIZATION_REQUESTS: &str = "keygate_auth_organization_requests_total";

static OTHER_LABEL: [Label; 1] = [Label::from_static_parts("organization", "other")];
static OTHER: Key = Key::from_static_parts(ORGANIZATION_REQUESTS, &OTHER_LABEL);

/// The organizations a layer labels, each with its key (built once). The
/// map hashes with foldhash: SipHash was most of the cost of a count. The
/// ids come from the key service's answers, not from the caller.
#[derive(Debug)]
pub(crate) struct Organizations {
    limit: usize,
    labelled: RwLock<HashMap<Box<str>, Key>>,
}

impl Organizations {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            labelled: RwLock::default(),
        }
    }

    /// Counts one request of `organization` by handing its key to
    /// `increment`. The common case, an organization already labelled (or
    /// the labels all taken), takes the read lock only.
    pub(crate) fn count(&self, organization: &str, increment: impl Fn(&Key)) {
        if self.limit == 0 {
            return;
        }
        {
            let labelled = self.labelled.read().unwrap_or_else(PoisonError::into_inner);
            match labelled.get(organization) {
                Some(key) => return increment(key),
                None if labelled.len() >= self.limit => return increment(&OTHER),
                None => {}
            }
        }
        let mut labelled = self
            .labelled
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Another request may have taken the last label meanwhile.
        if !labelled.contains_key(organization) && labelled.len() >= self.limit {
            return increment(&OTHER);
        }
        let key = labelled.entry(organization.into()).or_insert_with(|| {
            Key::from_parts(
                ORGANIZATION_REQUESTS,
                vec![Label::new("organization", organization.to_owned())],
            )
        });
        increment(key);
    }
}
