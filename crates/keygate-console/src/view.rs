//! Keys as the page and the JSON API show them: masked value, dates, and a
//! status.

use keygate_types::{ApiKey, Owner, Timestamp};
use serde::Serialize;
use time::macros::format_description;

/// How soon an expiry makes a key "expiring" rather than "active": 7 days.
pub const EXPIRING_WITHIN: time::Duration = time::Duration::days(7);

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Valid, with no expiry within [`EXPIRING_WITHIN`].
    Active,
    /// Valid, and set to expire within [`EXPIRING_WITHIN`] (a rolled key in
    /// its grace, for one).
    Expiring,
    /// Past its expiry: refused.
    Expired,
}

impl Status {
    /// Of `key` at `now`.
    pub fn of(key: &ApiKey, now: Timestamp) -> Self {
        match key.expires_at {
            Some(at) if at <= now => Status::Expired,
            Some(at) if at.since(now) <= EXPIRING_WITHIN => Status::Expiring,
            _ => Status::Active,
        }
    }

    /// `active`, `expiring` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Expiring => "expiring",
            Status::Expired => "expired",
        }
    }
}

/// A key in the JSON API: never its value.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyJson<'a> {
    id: &'a str,
    name: &'a str,
    obfuscated_value: &'a str,
    owner: &'a Owner,
    permissions: &'a [String],
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    status: Status,
    /// In a members scope, the owner's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_email: Option<&'a str>,
}

impl<'a> KeyJson<'a> {
    pub(crate) fn new(key: &'a ApiKey, now: Timestamp) -> Self {
        Self {
            id: key.id.as_str(),
            name: &key.name,
            obfuscated_value: &key.obfuscated_value,
            owner: &key.owner,
            permissions: &key.permissions,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
            status: Status::of(key, now),
            owner_email: None,
        }
    }

    /// With the owner's email, when `owners` knows it.
    pub(crate) fn owned(mut self, owners: &'a crate::keys::Owners) -> Self {
        self.owner_email = self
            .owner
            .user_id()
            .and_then(|u| owners.get(u.as_str()))
            .map(String::as_str);
        self
    }
}

/// A row of the page's table.
#[derive(Debug, Clone)]
pub(crate) struct KeyRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) masked: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) created: When,
    pub(crate) last_used: When,
    pub(crate) expires: When,
    pub(crate) status: &'static str,
    /// Whether roll and expiry changes make sense (not expired).
    pub(crate) live: bool,
    /// Whose key it is, in a members scope: the member's email (or id).
    pub(crate) owner: String,
    /// Each permission's name and description, where the catalogue has one.
    pub(crate) labels: Vec<String>,
}

impl KeyRow {
    pub(crate) fn new(key: &ApiKey, now: Timestamp) -> Self {
        let status = Status::of(key, now);
        Self {
            id: key.id.to_string(),
            name: key.name.clone(),
            masked: key.obfuscated_value.clone(),
            permissions: key.permissions.clone(),
            created: When::at(Some(key.created_at)),
            last_used: When::at(key.last_used_at),
            expires: When::at(key.expires_at),
            status: status.as_str(),
            live: status != Status::Expired,
            owner: String::new(),
            labels: Vec::new(),
        }
    }

    /// With its owner's email (or id) and its permissions' labels.
    pub(crate) fn described(
        mut self,
        key: &ApiKey,
        owners: &crate::keys::Owners,
        labels: &crate::catalogue::Labels,
    ) -> Self {
        if let Some(user) = key.owner.user_id() {
            self.owner = owners
                .get(user.as_str())
                .cloned()
                .unwrap_or_else(|| user.to_string());
        }
        self.labels = self
            .permissions
            .iter()
            .map(|slug| match labels.get(slug) {
                Some(l) if l.description.is_empty() => l.name.clone(),
                Some(l) => format!("{}: {}", l.name, l.description),
                None => slug.clone(),
            })
            .collect();
        self
    }
}

/// A time in a table cell: to the minute, the whole of it in a tooltip.
#[derive(Debug, Clone)]
pub(crate) struct When {
    pub(crate) short: String,
    pub(crate) full: String,
}

impl When {
    fn at(at: Option<Timestamp>) -> Self {
        match at {
            None => Self {
                short: "never".into(),
                full: String::new(),
            },
            Some(at) => Self {
                short: at
                    .as_offset_date_time()
                    .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
                    .unwrap_or_else(|_| at.to_string()),
                full: human(at),
            },
        }
    }
}

/// `2030-01-31 12:00:05 UTC`.
pub(crate) fn human(at: Timestamp) -> String {
    at.as_offset_date_time()
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_else(|_| at.to_string())
}

/// Whether `name` matches a search: every word of it, case-insensitively.
pub(crate) fn matches(name: &str, query: &str) -> bool {
    let name = name.to_lowercase();
    query
        .split_whitespace()
        .all(|word| name.contains(&word.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(expires_at: Option<&str>) -> ApiKey {
        serde_json::from_value(serde_json::json!({
            "object": "api_key", "id": "api_key_1", "name": "CI",
            "owner": {"type": "organization", "id": "org_1"},
            "obfuscated_value": "sk_…abcd", "last_used_at": null,
            "expires_at": expires_at, "permissions": [],
            "created_at": "2030-01-01T00:00:00.000Z", "updated_at": "2030-01-01T00:00:00.000Z",
        }))
        .unwrap()
    }

    #[test]
    fn status_follows_the_expiry() {
        let now: Timestamp = "2030-01-10T00:00:00Z".parse().unwrap();
        assert_eq!(Status::of(&key(None), now), Status::Active);
        assert_eq!(
            Status::of(&key(Some("2030-03-01T00:00:00Z")), now),
            Status::Active
        );
        assert_eq!(
            Status::of(&key(Some("2030-01-10T00:00:02Z")), now),
            Status::Expiring
        );
        assert_eq!(
            Status::of(&key(Some("2030-01-10T00:00:00Z")), now),
            Status::Expired
        );
    }

    #[test]
    fn search_matches_every_word_in_any_case() {
        assert!(matches("CI deploys (prod)", "ci PROD"));
        assert!(!matches("CI deploys", "ci staging"));
        assert!(matches("anything", "  "));
    }

    #[test]
    fn dates_read_as_utc() {
        let at: Timestamp = "2030-01-31T12:00:05.123Z".parse().unwrap();
        assert_eq!(human(at), "2030-01-31 12:00:05 UTC");
        let when = When::at(Some(at));
        assert_eq!(
            (when.short.as_str(), when.full.as_str()),
            ("2030-01-31 12:00", "2030-01-31 12:00:05 UTC")
        );
        assert_eq!(When::at(None).short, "never");
    }
}
