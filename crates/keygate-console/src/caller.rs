//! The [`Caller`] extractor: the app's resolver's scope for this request,
//! and where the console is mounted.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::response::Response;
use http::request::Parts;

use crate::Shared;
use crate::scope::Scope;

/// Who is asking, and the console's own path prefix.
#[derive(Debug)]
pub(crate) struct Caller {
    pub(crate) scope: Scope,
    /// The path the console is mounted at, without a trailing slash: `""`
    /// at the root, `/settings/keys` when nested there.
    pub(crate) base: String,
}

impl Caller {
    /// The page's own URL: the mount path itself (axum's `nest` does not
    /// match it with a trailing slash), or `/` at the root.
    pub(crate) fn page(&self) -> String {
        page_url(&self.base)
    }
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        let scope = shared.resolver.resolve(parts).await?;
        Ok(Self {
            scope,
            base: mount_path(parts),
        })
    }
}

/// The page's URL for a mount path.
pub(crate) fn page_url(base: &str) -> String {
    if base.is_empty() {
        "/".to_owned()
    } else {
        base.to_owned()
    }
}

/// The prefix axum's `nest` took off the path: the original path less the
/// path the console's router sees.
fn mount_path(parts: &Parts) -> String {
    let Some(OriginalUri(original)) = parts.extensions.get::<OriginalUri>() else {
        return String::new();
    };
    let (original, inner) = (original.path(), parts.uri.path());
    let base = if inner == "/" {
        original.trim_end_matches('/')
    } else {
        original.strip_suffix(inner).unwrap_or("")
    };
    base.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Uri};

    fn parts(original: &str, inner: &str) -> Parts {
        let (mut parts, ()) = Request::builder().uri(inner).body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(OriginalUri(original.parse::<Uri>().unwrap()));
        parts
    }

    #[test]
    fn the_mount_path_is_what_nest_removed() {
        assert_eq!(mount_path(&parts("/", "/")), "");
        assert_eq!(mount_path(&parts("/keys/x/roll", "/keys/x/roll")), "");
        assert_eq!(mount_path(&parts("/settings/keys", "/")), "/settings/keys");
        assert_eq!(mount_path(&parts("/settings/keys/", "/")), "/settings/keys");
        assert_eq!(
            mount_path(&parts("/settings/keys/api/keys", "/api/keys")),
            "/settings/keys"
        );
    }
}
