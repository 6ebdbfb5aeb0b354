//! Who is asking, and what they may do: the [`Scope`] an app's resolver
//! gives for each request.

use std::future::Future;
use std::pin::Pin;

use axum::response::Response;
use http::request::Parts;
use keygate_types::{OrganizationId, Permission, UserId};

/// Something the console lets a caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the list of keys (masked values only). Every other action needs it too.
    View,
    /// Create keys, with permissions from the scope's grantable set.
    Create,
    /// Roll a key: a new key with the same name and permissions, the old one
    /// expiring after a grace period. Only keys whose permissions are all
    /// grantable can be rolled, since rolling hands out a new value.
    Roll,
    /// Revoke a key, and schedule or clear its expiry.
    Revoke,
}

impl Action {
    const fn bit(self) -> u8 {
        match self {
            Action::View => 1,
            Action::Create => 2,
            Action::Roll => 4,
            Action::Revoke => 8,
        }
    }
}

/// An organization the caller may switch to, shown in the page's switcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationChoice {
    /// The organization.
    pub id: OrganizationId,
    /// Its display name.
    pub name: String,
}

/// The keys a request may see and what it may do with them.
///
/// The organization's own keys; or, with [`user`](Self::user), that user's
/// keys acting in the organization; or, with [`members`](Self::members),
/// the user keys of every member of the organization (an organization
/// admin's view, as WorkOS's widget gives with
/// `widgets:user-api-keys:manage-all`). Everything is checked on the server for
/// each request: a key outside the scope answers 404, an action not allowed
/// 403, a permission not grantable 403.
///
/// ```
/// use keygate_console::{Action, Scope};
/// use keygate_types::OrganizationId;
///
/// let org = OrganizationId::new_unchecked("org_01HZX4V2C5QW8M0R6T9B3N7K1P");
/// let scope = Scope::organization(org)
///     .allow(Action::Create)
///     .allow(Action::Revoke)
///     .grantable(["posts:read", "posts:write"]);
/// assert!(scope.may(Action::View));
/// assert!(!scope.may(Action::Roll));
/// assert!(scope.may_grant("posts:write"));
/// assert!(!scope.may_grant("admin"));
/// ```
#[derive(Debug, Clone)]
pub struct Scope {
    pub(crate) organization: OrganizationId,
    pub(crate) organization_name: Option<String>,
    pub(crate) user: Option<UserId>,
    pub(crate) members: bool,
    actions: u8,
    pub(crate) grantable: Vec<String>,
    pub(crate) switcher: Vec<OrganizationChoice>,
}

impl Scope {
    /// The organization's own keys, view only until [`allow`](Self::allow)ed more.
    pub fn organization(id: OrganizationId) -> Self {
        Self {
            organization: id,
            organization_name: None,
            user: None,
            members: false,
            actions: Action::View.bit(),
            grantable: Vec::new(),
            switcher: Vec::new(),
        }
    }

    /// Only this user's keys acting in the organization (keys the user owns).
    pub fn user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self.members = false;
        self
    }

    /// The user keys of every member of the organization, each shown with
    /// its owner: to view, revoke, and schedule or clear expiries. Create
    /// and roll are never allowed here, whatever [`allow`](Self::allow)
    /// says: the console never makes a key for someone else (a roll hands
    /// out a new value). The organization's own keys are not in this view.
    ///
    /// ```
    /// use keygate_console::{Action, Scope};
    /// use keygate_types::OrganizationId;
    ///
    /// let org = OrganizationId::new_unchecked("org_01HZX4V2C5QW8M0R6T9B3N7K1P");
    /// let admin = Scope::organization(org).members().allow_all();
    /// assert!(admin.may(Action::Revoke));
    /// assert!(!admin.may(Action::Create) && !admin.may(Action::Roll));
    /// ```
    pub fn members(mut self) -> Self {
        self.members = true;
        self.user = None;
        self
    }

    /// The organization's name, shown in the page's title.
    pub fn organization_name(mut self, name: impl Into<String>) -> Self {
        self.organization_name = Some(name.into());
        self
    }

    /// Also allows `action`.
    pub fn allow(mut self, action: Action) -> Self {
        self.actions |= action.bit();
        self
    }

    /// Allows every action.
    pub fn allow_all(self) -> Self {
        self.allow(Action::Create)
            .allow(Action::Roll)
            .allow(Action::Revoke)
    }

    /// The permissions the caller may put on keys: the only choices the page
    /// offers, and the only ones the API accepts. Malformed slugs are dropped.
    pub fn grantable<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for slug in permissions {
            if let Ok(permission) = Permission::parse(slug)
                && !self.grantable.iter().any(|p| p == permission.as_str())
            {
                self.grantable.push(permission.as_str().to_owned());
            }
        }
        self
    }

    /// Organizations the caller may switch between; the page shows a switcher
    /// when there is more than one. The console only switches to one of these,
    /// and remembers the choice in a cookie an app reads with
    /// [`selected_organization`](crate::selected_organization).
    pub fn switcher(mut self, choices: Vec<OrganizationChoice>) -> Self {
        self.switcher = choices;
        self
    }

    /// Whether the caller may do `action`.
    pub fn may(&self, action: Action) -> bool {
        if self.members && matches!(action, Action::Create | Action::Roll) {
            return false;
        }
        self.actions & action.bit() != 0
    }

    /// Whether the caller may put `permission` on a key.
    pub fn may_grant(&self, permission: &str) -> bool {
        self.grantable.iter().any(|p| p == permission)
    }

    /// The organization whose keys are in scope.
    pub fn organization_id(&self) -> &OrganizationId {
        &self.organization
    }

    /// The user whose keys are in scope, when the scope is one user's.
    pub fn user_id(&self) -> Option<&UserId> {
        self.user.as_ref()
    }

    /// Whether the scope is every member's keys ([`members`](Self::members)).
    pub fn is_members(&self) -> bool {
        self.members
    }
}

/// The future a [`ResolveScope`] returns.
pub type ScopeFuture<'a> = Pin<Box<dyn Future<Output = Result<Scope, Response>> + Send + 'a>>;

/// Finds the caller's [`Scope`] from the request, with the app's own login.
///
/// `Err(response)` answers the request with that response: a redirect to
/// your login page, a 401 or a 403. Implemented for closures
/// `Fn(&Parts) -> impl Future<Output = Result<Scope, Response>>`; read what
/// you need from the parts before the `async` block:
///
/// ```
/// use axum::response::{IntoResponse, Redirect};
/// use http::request::Parts;
/// use keygate_console::Scope;
/// use keygate_types::OrganizationId;
///
/// let resolver = |parts: &Parts| {
///     // A real app reads its session here.
///     let signed_in = parts.headers.contains_key("x-demo-user");
///     async move {
///         if !signed_in {
///             return Err(Redirect::to("/login").into_response());
///         }
///         let org = OrganizationId::new_unchecked("org_01HZX4V2C5QW8M0R6T9B3N7K1P");
///         Ok(Scope::organization(org).allow_all().grantable(["posts:read"]))
///     }
/// };
/// # fn takes<R: keygate_console::ResolveScope>(_: R) {}
/// # takes(resolver);
/// ```
pub trait ResolveScope: Send + Sync + 'static {
    /// The scope of the request described by `parts`.
    fn resolve<'a>(&'a self, parts: &'a Parts) -> ScopeFuture<'a>;
}

impl<F, Fut> ResolveScope for F
where
    F: Fn(&Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Scope, Response>> + Send + 'static,
{
    fn resolve<'a>(&'a self, parts: &'a Parts) -> ScopeFuture<'a> {
        Box::pin(self(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrganizationId {
        OrganizationId::new_unchecked("org_01HZX4V2C5QW8M0R6T9B3N7K1P")
    }

    #[test]
    fn a_new_scope_may_only_view() {
        let scope = Scope::organization(org());
        assert!(scope.may(Action::View));
        for action in [Action::Create, Action::Roll, Action::Revoke] {
            assert!(!scope.may(action), "{action:?}");
        }
    }

    #[test]
    fn malformed_and_repeated_grantable_slugs_are_dropped() {
        let scope = Scope::organization(org()).grantable(["a:b", "A B", "a:b", "c"]);
        assert_eq!(scope.grantable, ["a:b", "c"]);
        assert!(!scope.may_grant("A B"));
    }
}
