//! Query strings: list parameters and filters, each bad value a 422 naming it.

use std::borrow::Cow;

use keygate_types::{DEFAULT_LIMIT, MAX_LIMIT, OrganizationId, Timestamp};

use super::reply::ApiError;
use crate::store::PageRequest;

/// A query string's pairs, percent-decoded, in order.
#[derive(Debug, Default)]
pub(crate) struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    pub(crate) fn parse(raw: Option<&'a str>) -> Self {
        Self {
            pairs: raw
                .map(|q| form_urlencoded::parse(q.as_bytes()).collect())
                .unwrap_or_default(),
        }
    }

    /// The last value of `key` (a repeated scalar parameter: the last wins).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Every value of a list parameter in any of the encodings SDKs use:
    /// `key=a,b`, `key=a&key=b` and `key[]=a&key[]=b`.
    pub(crate) fn list(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key || k.strip_suffix("[]") == Some(key))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The `organization_id` filter; an empty one filters nothing.
    pub(crate) fn organization_id(&self) -> Option<OrganizationId> {
        self.get("organization_id")
            .filter(|o| !o.is_empty())
            .map(OrganizationId::new_unchecked)
    }

    /// A timestamp parameter.
    pub(crate) fn timestamp(&self, key: &str) -> Result<Option<Timestamp>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse().map_err(|e| {
                    ApiError::invalid_field(key, "invalid_timestamp", format!("{key}: {e}."))
                })
            })
            .transpose()
    }

    /// `before`, `after`, `limit` and `order`. `ascending_by_default` picks the
    /// order when none is given.
    pub(crate) fn page(&self, ascending_by_default: bool) -> Result<PageRequest, ApiError> {
        let limit = match self.get("limit") {
            None => usize::from(DEFAULT_LIMIT),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=usize::from(MAX_LIMIT)).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid_field(
                        "limit",
                        "limit_out_of_range",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}; got `{raw}`."),
                    ));
                }
            },
        };
        let ascending = match self.get("order") {
            None => ascending_by_default,
            Some("asc") => true,
            Some("desc" | "normal") => false,
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "order",
                    "invalid_order",
                    format!("order must be `asc`, `desc` or `normal`; got `{other}`."),
                ));
            }
        };
        let cursor = |key: &str| self.get(key).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(PageRequest {
            before: cursor("before"),
            after: cursor("after"),
            limit,
            ascending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_in_three_encodings() {
        for raw in [
            "events=api_key.created,api_key.revoked",
            "events=api_key.created&events=api_key.revoked",
            "events%5B%5D=api_key.created&events%5B%5D=api_key.revoked",
            "events[]=api_key.created&events=api_key.revoked",
        ] {
            assert_eq!(
                Query::parse(Some(raw)).list("events"),
                vec!["api_key.created", "api_key.revoked"],
                "{raw}"
            );
        }
    }

    #[test]
    fn limits_and_orders() {
        let q = Query::parse(Some("limit=7&order=asc&after=api_key_x"));
        let p = q.page(false).unwrap();
        assert_eq!(
            (p.limit, p.ascending, p.after.as_deref()),
            (7, true, Some("api_key_x"))
        );
        assert_eq!(Query::parse(None).page(false).unwrap().limit, 10);
        assert!(
            !Query::parse(Some("order=normal"))
                .page(true)
                .unwrap()
                .ascending
        );
        for bad in ["limit=0", "limit=101", "limit=x", "limit=-1", "order=up"] {
            let e = Query::parse(Some(bad)).page(false).unwrap_err();
            assert_eq!(e.status.as_u16(), 422, "{bad}");
            assert_eq!(e.body.errors.len(), 1);
        }
    }

    #[test]
    fn bad_timestamps_name_the_parameter() {
        let e = Query::parse(Some("range_start=yesterday"))
            .timestamp("range_start")
            .unwrap_err();
        assert_eq!(e.body.errors[0].field, "range_start");
    }

    proptest::proptest! {
        /// Any query string parses; the list parameters either give a page
        /// request within the rules or a 422 naming one field.
        #[test]
        fn any_query_gets_a_page_or_one_field_error(raw in "[ -~]{0,80}") {
            let q = Query::parse(Some(&raw));
            let _ = q.list("events");
            match q.page(false) {
                Ok(p) => proptest::prop_assert!((1..=100).contains(&p.limit)),
                Err(e) => {
                    proptest::prop_assert_eq!(e.status.as_u16(), 422);
                    proptest::prop_assert_eq!(e.body.errors.len(), 1);
                }
            }
            let _ = q.timestamp("range_start");
        }

        /// Every encoding of a list gives the same values.
        #[test]
        fn list_encodings_agree(values in proptest::collection::vec("[a-z_.]{1,12}", 1..5)) {
            let commas = format!("events={}", values.join(","));
            let repeated: Vec<String> = values.iter().map(|v| format!("events={v}")).collect();
            let brackets: Vec<String> = values.iter().map(|v| format!("events%5B%5D={v}")).collect();
            for raw in [commas, repeated.join("&"), brackets.join("&")] {
                let q = Query::parse(Some(&raw));
                proptest::prop_assert_eq!(q.list("events"), values.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
    }
}
