//! Each gRPC method's rule, declared once: open, any valid key, or the
//! permissions a guard names; found by the request's path.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::guard::Requirement;
use crate::{RequireAllPermissions, RequireAnyPermission, RequirePermission};

/// The permissions a gRPC method (or every method of a service) requires:
/// what one of the guards names.
///
/// ```
/// use keygate_auth::{RequireAnyPermission, RequirePermission, grpc::MethodRequirement};
///
/// let say = MethodRequirement::from(RequirePermission("echo:say"));
/// let admin = MethodRequirement::from(RequireAnyPermission(&["echo:admin", "ops"]));
/// # let _ = (say, admin);
/// ```
///
/// # Panics
///
/// When it is made, as the guard would when it wraps a service: a slug that
/// is not a valid permission, or no slug at all.
#[derive(Clone, Copy)]
pub struct MethodRequirement(pub(crate) Requirement);

impl fmt::Debug for MethodRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodRequirement")
            .field("permissions", &self.0.permissions())
            .field("any", &self.0.any)
            .finish()
    }
}

impl From<RequirePermission> for MethodRequirement {
    fn from(guard: RequirePermission) -> Self {
        Self(guard.into())
    }
}

impl From<RequireAllPermissions> for MethodRequirement {
    fn from(guard: RequireAllPermissions) -> Self {
        Self(guard.into())
    }
}

impl From<RequireAnyPermission> for MethodRequirement {
    fn from(guard: RequireAnyPermission) -> Self {
        Self(guard.into())
    }
}

/// What a declared path asks of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// No key at all: the request skips authentication.
    Open,
    /// Any valid key.
    Authenticated,
    /// A valid key that grants these permissions.
    Require(Requirement),
}

/// The rules of a [`GrpcGate`](super::GrpcGate), by path (`/package.Service/Method`)
/// or by service (`package.Service`); a method's own rule comes first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    by_name: HashMap<Box<str>, Rule>,
    pub(crate) deny_undeclared: bool,
}

impl Rules {
    /// Declares `name`'s rule.
    ///
    /// # Panics
    ///
    /// If `name` is neither a path (`/…`) nor a service name (no `/`, not
    /// empty), or was declared already: two rules for one name are a
    /// mistake, whichever would win.
    pub(crate) fn declare(&mut self, name: &str, rule: Rule) {
        assert!(
            is_path(name) || is_service(name),
            "{name:?} is neither a path (`/package.Service/Method`) nor a service name \
             (`package.Service`)"
        );
        let previous = self.by_name.insert(name.into(), rule);
        assert!(
            previous.is_none(),
            "{name:?} is declared twice in a keygate GrpcGate"
        );
    }

    /// The rule for a request to `path`: the path's own, else its service's.
    pub(crate) fn lookup(&self, path: &str) -> Option<Rule> {
        if self.by_name.is_empty() || !path.starts_with('/') {
            return None;
        }
        self.by_name
            .get(path)
            .or_else(|| service_of(path).and_then(|service| self.by_name.get(service)))
            .copied()
    }
}

/// Shared by a gate's services.
pub(crate) type SharedRules = Arc<Rules>;

fn is_path(name: &str) -> bool {
    name.len() > 1 && name.starts_with('/')
}

fn is_service(name: &str) -> bool {
    !name.is_empty() && !name.contains('/')
}

/// `package.Service` of `/package.Service/Method`.
fn service_of(path: &str) -> Option<&str> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/')).then_some(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_rule_comes_before_its_services() {
        let mut rules = Rules::default();
        rules.declare("echo.v1.Echo", Rule::Authenticated);
        rules.declare("/echo.v1.Echo/Say", Rule::Open);
        assert!(matches!(
            rules.lookup("/echo.v1.Echo/Say"),
            Some(Rule::Open)
        ));
        assert!(matches!(
            rules.lookup("/echo.v1.Echo/Count"),
            Some(Rule::Authenticated)
        ));
        assert!(rules.lookup("/other.Svc/Say").is_none());
        // A path that is not a method's does not fall back on a service.
        assert!(rules.lookup("/echo.v1.Echo/Say/more").is_none());
        assert!(rules.lookup("/echo.v1.Echo/").is_none());
        assert!(rules.lookup("/echo.v1.Echo").is_none());
        assert!(rules.lookup("echo.v1.Echo").is_none());
    }

    #[test]
    fn an_open_service_opens_only_its_own_methods() {
        let mut rules = Rules::default();
        rules.declare("grpc.health.v1.Health", Rule::Open);
        rules.declare("/healthz", Rule::Open);
        for path in [
            "/grpc.health.v1.Health/../keygate.echo.v1.Echo/Say",
            "/grpc.health.v1.Health%2F..%2Fkeygate.echo.v1.Echo/Say",
            "//grpc.health.v1.Health/Check",
            "/grpc.health.v1.HealthX/Check",
            "/healthz/../posts",
            "/healthz/",
        ] {
            assert!(rules.lookup(path).is_none(), "{path} is open");
        }
        assert!(matches!(
            rules.lookup("/grpc.health.v1.Health/Check"),
            Some(Rule::Open)
        ));
    }

    #[test]
    fn names_are_checked_once_when_declared() {
        for bad in ["", "/", "a/b"] {
            let declared = std::panic::catch_unwind(|| {
                Rules::default().declare(bad, Rule::Open);
            });
            assert!(declared.is_err(), "{bad:?} was accepted");
        }
        let twice = std::panic::catch_unwind(|| {
            let mut rules = Rules::default();
            rules.declare("/healthz", Rule::Open);
            rules.declare("/healthz", Rule::Authenticated);
        });
        assert!(twice.is_err());
    }
}
