//! List envelopes and pagination parameters.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The most items one page may hold.
pub const MAX_LIMIT: u8 = 100;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u8 = 10;

/// A page of a list: `{"object":"list","data":[…],"list_metadata":{…}}`.
///
/// `M` is [`ListMetadata`] for most lists and [`EventListMetadata`] for
/// `/events`, which has only an `after` cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "list")]
pub struct List<T, M = ListMetadata> {
    /// The items on this page.
    pub data: Vec<T>,
    /// The cursors to the neighbouring pages.
    pub list_metadata: M,
}

/// Cursors of a list page. `after` is set exactly when a next page exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMetadata {
    /// Pass as `before` to get the previous page.
    #[serde(default)]
    pub before: Option<String>,
    /// Pass as `after` to get the next page.
    #[serde(default)]
    pub after: Option<String>,
}

/// Cursor of an `/events` page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventListMetadata {
    /// Pass as `after` to get the next page; when `None`, poll again later
    /// with the id of the last event seen.
    #[serde(default)]
    pub after: Option<String>,
}

/// The order of a list, by `created_at` then id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Newest first (the default).
    #[default]
    Desc,
    /// Oldest first.
    Asc,
    /// WorkOS's legacy name for `desc`.
    Normal,
}

impl Order {
    /// Whether this order is oldest-first.
    pub fn is_ascending(self) -> bool {
        matches!(self, Order::Asc)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Desc => "desc",
            Order::Asc => "asc",
            Order::Normal => "normal",
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Query parameters of a paginated list: `?before&after&limit&order`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListParams {
    /// Return items before this cursor (an object id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Return items after this cursor (an object id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Page size, 1 to [`MAX_LIMIT`]; the service's default is [`DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u8>,
    /// The order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
}

impl ListParams {
    /// Parameters for the page after `cursor`, keeping the rest.
    pub fn after(&self, cursor: impl Into<String>) -> Self {
        Self {
            before: None,
            after: Some(cursor.into()),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_shape() {
        let page: List<u32> = List {
            data: vec![1, 2],
            list_metadata: ListMetadata {
                before: None,
                after: Some("x".into()),
            },
        };
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            json!({"object":"list","data":[1,2],"list_metadata":{"before":null,"after":"x"}})
        );
        let events: List<u32, EventListMetadata> = List {
            data: vec![],
            list_metadata: EventListMetadata::default(),
        };
        assert_eq!(
            serde_json::to_value(&events).unwrap(),
            json!({"object":"list","data":[],"list_metadata":{"after":null}})
        );
    }

    #[test]
    fn order_names() {
        assert_eq!(
            serde_json::to_value(Order::Normal).unwrap(),
            json!("normal")
        );
        assert!(!Order::Normal.is_ascending());
    }
}
