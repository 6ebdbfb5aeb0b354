//! What a caller sends, checked before anything reaches the key service:
//! one set of rules for the JSON API and the page's forms.

use std::time::Duration;

use keygate_types::{Timestamp, validate_permission};
use serde::Deserialize;

use crate::error::{ConsoleError, FieldProblem};
use crate::scope::Scope;

/// The longest name a key may have, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest grace a roll may give the old key: 30 days.
pub const MAX_GRACE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A create request as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKeyInput {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) permissions: Vec<String>,
    /// RFC 3339, or the page's `YYYY-MM-DDTHH:MM` read as UTC; empty for none.
    #[serde(default)]
    pub(crate) expires_at: Option<String>,
}

/// A create request that passed every check.
#[derive(Debug, Clone)]
pub(crate) struct NewKey {
    pub(crate) name: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) expires_at: Option<Timestamp>,
}

impl NewKeyInput {
    /// 422 for a bad name, malformed permission or past expiry (all
    /// problems at once); then 403 for a permission outside the scope.
    pub(crate) fn check(&self, scope: &Scope, now: Timestamp) -> Result<NewKey, ConsoleError> {
        let mut problems = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            problems.push(FieldProblem::new(
                "name",
                "required",
                "Give the key a name.",
            ));
        } else if name.chars().count() > MAX_NAME_CHARS {
            problems.push(FieldProblem::new(
                "name",
                "too_long",
                format!("A name has at most {MAX_NAME_CHARS} characters."),
            ));
        }
        let mut permissions: Vec<String> = Vec::new();
        for slug in &self.permissions {
            if validate_permission(slug).is_err() {
                problems.push(FieldProblem::new(
                    "permissions",
                    "invalid_permission",
                    "A permission is 1 to 48 lowercase letters, digits or `:` `-` `_` `.`.",
                ));
            } else if !permissions.contains(slug) {
                permissions.push(slug.clone());
            }
        }
        let expires_at = match self.expires_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => match expiry(text, now) {
                Ok(at) => Some(at),
                Err(problem) => {
                    problems.push(problem);
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(ConsoleError::invalid(problems));
        }
        let refused: Vec<String> = permissions
            .iter()
            .filter(|p| !scope.may_grant(p))
            .cloned()
            .collect();
        if !refused.is_empty() {
            return Err(ConsoleError::not_grantable(&refused));
        }
        Ok(NewKey {
            name: name.to_owned(),
            permissions,
            expires_at,
        })
    }
}

/// A future expiry: RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` read as UTC (what
/// a `datetime-local` input sends).
pub(crate) fn expiry(text: &str, now: Timestamp) -> Result<Timestamp, FieldProblem> {
    let parsed = text.parse::<Timestamp>().or_else(|_| {
        let seconds = if text.len() == 16 { ":00" } else { "" };
        format!("{text}{seconds}Z").parse::<Timestamp>()
    });
    match parsed {
        Err(_) => Err(FieldProblem::new(
            "expires_at",
            "invalid_timestamp",
            "Give the expiry as a date and time, such as 2030-01-31T12:00 (UTC).",
        )),
        Ok(at) if at <= now => Err(FieldProblem::new(
            "expires_at",
            "in_the_past",
            "The expiry must be in the future.",
        )),
        Ok(at) => Ok(at),
    }
}

/// A roll's grace, in whole seconds from 0 to [`MAX_GRACE`].
pub(crate) fn grace(seconds: &str) -> Result<Duration, ConsoleError> {
    match seconds.trim().parse::<u64>() {
        Ok(s) if Duration::from_secs(s) <= MAX_GRACE => Ok(Duration::from_secs(s)),
        _ => Err(ConsoleError::invalid(vec![FieldProblem::new(
            "grace_seconds",
            "out_of_range",
            format!(
                "The grace is a whole number of seconds from 0 to {}.",
                MAX_GRACE.as_secs()
            ),
        )])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use keygate_types::OrganizationId;

    fn scope() -> Scope {
        Scope::organization(OrganizationId::new_unchecked("org_1"))
            .allow_all()
            .grantable(["posts:read", "posts:write"])
    }

    fn now() -> Timestamp {
        "2030-01-01T00:00:00Z".parse().unwrap()
    }

    fn input(name: &str, permissions: &[&str], expires_at: Option<&str>) -> NewKeyInput {
        NewKeyInput {
            name: name.into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            expires_at: expires_at.map(Into::into),
        }
    }

    #[test]
    fn a_good_request_is_trimmed_and_deduplicated() {
        let key = input(
            " CI ",
            &["posts:read", "posts:read"],
            Some("2030-02-01T10:30"),
        )
        .check(&scope(), now())
        .unwrap();
        assert_eq!(key.name, "CI");
        assert_eq!(key.permissions, ["posts:read"]);
        assert_eq!(
            key.expires_at.unwrap().to_string(),
            "2030-02-01T10:30:00.000Z"
        );
    }

    #[test]
    fn every_field_problem_is_reported_at_once() {
        let error = input("  ", &["Not A Slug"], Some("2029-12-31T23:59:59Z"))
            .check(&scope(), now())
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<_> = error
            .field_problems()
            .iter()
            .map(|p| (p.field.as_str(), p.code.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("name", "required"),
                ("permissions", "invalid_permission"),
                ("expires_at", "in_the_past")
            ]
        );
    }

    #[test]
    fn a_permission_outside_the_scope_is_forbidden() {
        let error = input("CI", &["admin"], None)
            .check(&scope(), now())
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        assert_eq!(error.code(), "permission_not_grantable");
    }

    #[test]
    fn grace_is_bounded() {
        assert_eq!(grace("2").unwrap(), Duration::from_secs(2));
        assert!(grace("-1").is_err());
        assert!(grace("2592001").is_err());
        assert!(grace("soon").is_err());
    }
}
