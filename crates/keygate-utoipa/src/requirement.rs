//! What a route asks of a caller's key, as OpenAPI security requirements.

use std::collections::BTreeMap;

use keygate_auth::{RequireAllPermissions, RequireAnyPermission, RequirePermission};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;

use crate::SCHEME_NAME;

/// What a route asks of a caller's key, written as OpenAPI security requirements.
///
/// An operation's `security` is a list of requirement objects, any one of
/// which suffices; within one object every scope is needed. keygate's guards
/// map onto that directly, with the permissions as the
/// [`api_key`](crate::SCHEME_NAME) scheme's scopes (OpenAPI 3.1 lets schemes
/// other than OAuth2 list the roles an operation needs there):
///
/// | what the route has | its `security` |
/// |---|---|
/// | [`Authenticated`]: the layer, no guard | `[{"api_key": []}]` |
/// | `RequirePermission("a")` | `[{"api_key": ["a"]}]` |
/// | `RequireAllPermissions(&["a", "b"])` | `[{"api_key": ["a", "b"]}]` |
/// | `RequireAnyPermission(&["a", "b"])` | `[{"api_key": ["a"]}, {"api_key": ["b"]}]` |
///
/// ```
/// use keygate_auth::RequireAnyPermission;
/// use keygate_utoipa::RouteSecurity;
///
/// let requirements = RequireAnyPermission(&["posts:write", "posts:admin"]).security_requirements();
/// assert_eq!(
///     serde_json::to_value(&requirements).unwrap(),
///     serde_json::json!([{"api_key": ["posts:write"]}, {"api_key": ["posts:admin"]}]),
/// );
/// ```
///
/// Implement it for a guard of your own to document it the same way.
pub trait RouteSecurity {
    /// The requirement objects, any one of which lets a request through.
    fn security_requirements(&self) -> Vec<SecurityRequirement>;
}

/// A route behind [`ApiKeyAuth`](keygate_auth::ApiKeyAuth) with no permission
/// guard: any valid key will do.
///
/// It documents the route only; the layer does the enforcing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Authenticated;

impl RouteSecurity for Authenticated {
    fn security_requirements(&self) -> Vec<SecurityRequirement> {
        vec![SecurityRequirement::new(
            SCHEME_NAME,
            std::iter::empty::<&str>(),
        )]
    }
}

impl RouteSecurity for RequirePermission {
    fn security_requirements(&self) -> Vec<SecurityRequirement> {
        vec![SecurityRequirement::new(SCHEME_NAME, [self.0])]
    }
}

impl RouteSecurity for RequireAllPermissions {
    fn security_requirements(&self) -> Vec<SecurityRequirement> {
        vec![SecurityRequirement::new(
            SCHEME_NAME,
            self.0.iter().copied(),
        )]
    }
}

impl RouteSecurity for RequireAnyPermission {
    fn security_requirements(&self) -> Vec<SecurityRequirement> {
        self.0
            .iter()
            .map(|permission| SecurityRequirement::new(SCHEME_NAME, [*permission]))
            .collect()
    }
}

impl<T: RouteSecurity + ?Sized> RouteSecurity for &T {
    fn security_requirements(&self) -> Vec<SecurityRequirement> {
        (**self).security_requirements()
    }
}

/// Adds what `route` asks to what `operation` already requires.
pub(crate) fn require(operation: &mut Operation, route: &(impl RouteSecurity + ?Sized)) {
    let joined = both(
        operation.security.as_deref(),
        &route.security_requirements(),
    );
    operation.security = Some(joined);
}

/// The requirements of a route that must pass both `existing` and `added`,
/// as two stacked guards do: every pair of alternatives, their scopes joined.
///
/// No requirement yet (`None` or an empty list) means `added` alone.
pub(crate) fn both(
    existing: Option<&[SecurityRequirement]>,
    added: &[SecurityRequirement],
) -> Vec<SecurityRequirement> {
    let existing = match existing {
        Some(existing) if !existing.is_empty() => existing,
        _ => return added.to_vec(),
    };
    let mut joined = Vec::with_capacity(existing.len() * added.len());
    for first in existing.iter().map(scopes) {
        for second in added.iter().map(scopes) {
            let mut union = first.clone();
            for (scheme, more) in second {
                let scopes = union.entry(scheme).or_default();
                for scope in more {
                    if !scopes.contains(&scope) {
                        scopes.push(scope);
                    }
                }
            }
            let requirement = union.into_iter().fold(
                SecurityRequirement::default(),
                |requirement, (scheme, scopes)| requirement.add(scheme, scopes),
            );
            if !joined.contains(&requirement) {
                joined.push(requirement);
            }
        }
    }
    joined
}

/// A requirement object's scheme names and scopes. utoipa keeps them private
/// but serializes them as exactly this map.
fn scopes(requirement: &SecurityRequirement) -> BTreeMap<String, Vec<String>> {
    serde_json::to_value(requirement)
        .and_then(serde_json::from_value)
        .expect("a security requirement serializes as a map of scheme names to scopes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn json(requirements: &[SecurityRequirement]) -> Value {
        serde_json::to_value(requirements).unwrap()
    }

    #[test]
    fn each_guard_maps_to_its_requirement_objects() {
        assert_eq!(
            json(&Authenticated.security_requirements()),
            json!([{"api_key": []}])
        );
        assert_eq!(
            json(&RequirePermission("posts:write").security_requirements()),
            json!([{"api_key": ["posts:write"]}])
        );
        assert_eq!(
            json(&RequireAllPermissions(&["posts:read", "posts:write"]).security_requirements()),
            json!([{"api_key": ["posts:read", "posts:write"]}])
        );
        assert_eq!(
            json(&RequireAnyPermission(&["posts:write", "posts:admin"]).security_requirements()),
            json!([{"api_key": ["posts:write"]}, {"api_key": ["posts:admin"]}])
        );
    }

    #[test]
    fn a_first_guard_replaces_an_empty_requirement_list() {
        let added = RequirePermission("a").security_requirements();
        assert_eq!(json(&both(None, &added)), json!([{"api_key": ["a"]}]));
        assert_eq!(json(&both(Some(&[]), &added)), json!([{"api_key": ["a"]}]));
    }

    #[test]
    fn stacked_guards_need_both_every_alternative_paired() {
        let any = RequireAnyPermission(&["a", "b"]).security_requirements();
        let all = RequireAllPermissions(&["c", "a"]).security_requirements();
        assert_eq!(
            json(&both(Some(&any), &all)),
            json!([{"api_key": ["a", "c"]}, {"api_key": ["b", "c", "a"]}])
        );
    }

    #[test]
    fn a_guard_after_authentication_alone_keeps_its_scopes() {
        let authenticated = Authenticated.security_requirements();
        let one = RequirePermission("a").security_requirements();
        assert_eq!(
            json(&both(Some(&authenticated), &one)),
            json!([{"api_key": ["a"]}])
        );
        assert_eq!(
            json(&both(Some(&one), &authenticated)),
            json!([{"api_key": ["a"]}])
        );
    }

    #[test]
    fn another_scheme_on_the_operation_is_kept_beside_the_key() {
        let oauth = [SecurityRequirement::new("oauth", ["read"])];
        let one = RequirePermission("a").security_requirements();
        assert_eq!(
            json(&both(Some(&oauth), &one)),
            json!([{"api_key": ["a"], "oauth": ["read"]}])
        );
    }
}
