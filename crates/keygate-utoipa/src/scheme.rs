//! The API-key security scheme, and a route's requirements in a derived document.

use utoipa::Modify;
use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, OpenApi};

use crate::RouteSecurity;
use crate::{operation, requirement};

/// The name of keygate's security scheme in the document's
/// `components.securitySchemes`, which every route's requirements refer to.
pub const SCHEME_NAME: &str = "api_key";

/// The `bearerFormat` of the scheme: a hint for readers, not a format clients check.
pub const BEARER_FORMAT: &str = "WorkOS API key";

/// The scheme's description, shown by documentation viewers.
const DESCRIPTION: &str = "A WorkOS-style API key, sent as `Authorization: Bearer <key>`. \
     An operation's scopes for this scheme are the permissions the key must grant; \
     a request without a valid key is answered 401, one whose key lacks a permission 403.";

/// keygate's security scheme: an `http` `bearer` scheme named
/// [`api_key`](SCHEME_NAME), for WorkOS-style API keys.
///
/// As a utoipa [`Modify`], it adds the scheme to the document's components;
/// a derived document needs no modifier of its own:
///
/// ```
/// use keygate_utoipa::ApiKeySecurity;
/// use utoipa::OpenApi;
///
/// #[derive(OpenApi)]
/// #[openapi(modifiers(&ApiKeySecurity))]
/// struct ApiDoc;
///
/// let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
/// assert_eq!(
///     document["components"]["securitySchemes"]["api_key"]["scheme"],
///     "bearer"
/// );
/// ```
///
/// Routes get their requirements from the guards themselves, with
/// [`GuardedRoutes`](crate::GuardedRoutes) on utoipa-axum's router, or with
/// [`ApiKeySecurity::require`] on a document built some other way.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiKeySecurity;

impl ApiKeySecurity {
    /// The scheme itself: `{"type": "http", "scheme": "bearer", "bearerFormat": …, "description": …}`.
    pub fn scheme() -> SecurityScheme {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format(BEARER_FORMAT)
                .description(Some(DESCRIPTION))
                .build(),
        )
    }

    /// Documents that the operation `method` `path` of `openapi` asks what
    /// `route` asks: pass the guard (or [`Authenticated`](crate::Authenticated))
    /// the route is layered with.
    ///
    /// What the operation already requires stays required: two calls document
    /// two stacked guards, each of which must pass.
    ///
    /// ```
    /// use keygate_auth::RequirePermission;
    /// use keygate_utoipa::ApiKeySecurity;
    /// use utoipa::OpenApi;
    /// use utoipa::openapi::HttpMethod;
    ///
    /// /// The guard, declared once: layered on the route and written in the document.
    /// const POSTS_WRITE: RequirePermission = RequirePermission("posts:write");
    ///
    /// #[utoipa::path(post, path = "/posts", responses((status = 201, description = "created")))]
    /// async fn create_post() {}
    ///
    /// #[derive(OpenApi)]
    /// #[openapi(paths(create_post), modifiers(&ApiKeySecurity))]
    /// struct ApiDoc;
    ///
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/posts", axum::routing::post(create_post).route_layer(POSTS_WRITE));
    ///
    /// let mut openapi = ApiDoc::openapi();
    /// ApiKeySecurity::require(&mut openapi, HttpMethod::Post, "/posts", POSTS_WRITE)?;
    /// let document = serde_json::to_value(&openapi)?;
    /// assert_eq!(
    ///     document["paths"]["/posts"]["post"]["security"],
    ///     serde_json::json!([{"api_key": ["posts:write"]}])
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`UnknownOperation`] if the document has no such operation, so that a
    /// renamed route cannot leave its old requirements documented nowhere.
    pub fn require(
        openapi: &mut OpenApi,
        method: HttpMethod,
        path: &str,
        route: impl RouteSecurity,
    ) -> Result<(), UnknownOperation> {
        let operation = openapi
            .paths
            .paths
            .get_mut(path)
            .and_then(|item| operation::by_method(item, &method))
            .ok_or_else(|| UnknownOperation {
                method: operation::name(&method),
                path: path.to_owned(),
            })?;
        requirement::require(operation, &route);
        Ok(())
    }
}

impl Modify for ApiKeySecurity {
    fn modify(&self, openapi: &mut OpenApi) {
        openapi
            .components
            .get_or_insert_with(Components::new)
            .add_security_scheme(SCHEME_NAME, Self::scheme());
    }
}

/// [`ApiKeySecurity::require`] named an operation the document does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the OpenAPI document has no operation {method} {path}: document the route first")]
pub struct UnknownOperation {
    method: &'static str,
    path: String,
}

impl UnknownOperation {
    /// The operation's method, such as `POST`.
    pub fn method(&self) -> &str {
        self.method
    }

    /// The operation's path, as given.
    pub fn path(&self) -> &str {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_auth::RequirePermission;
    use utoipa::openapi::path::{OperationBuilder, PathItem};
    use utoipa::openapi::{Info, PathsBuilder};

    fn with_get_posts() -> OpenApi {
        let item = PathItem::new(HttpMethod::Get, OperationBuilder::new().build());
        OpenApi::new(
            Info::new("test", "1"),
            PathsBuilder::new().path("/posts", item).build(),
        )
    }

    #[test]
    fn an_undocumented_operation_is_an_error_naming_it() {
        let mut openapi = with_get_posts();
        let wrong_method = ApiKeySecurity::require(
            &mut openapi,
            HttpMethod::Post,
            "/posts",
            RequirePermission("a"),
        )
        .unwrap_err();
        assert_eq!(
            wrong_method.to_string(),
            "the OpenAPI document has no operation POST /posts: document the route first"
        );
        let wrong_path = ApiKeySecurity::require(
            &mut openapi,
            HttpMethod::Get,
            "/post",
            RequirePermission("a"),
        )
        .unwrap_err();
        assert_eq!((wrong_path.method(), wrong_path.path()), ("GET", "/post"));
        assert!(openapi == with_get_posts(), "nothing written");
    }

    #[test]
    fn the_modifier_adds_the_scheme_beside_others() {
        let mut openapi = with_get_posts();
        openapi.components = Some(Components::new());
        openapi
            .components
            .as_mut()
            .unwrap()
            .add_security_scheme("session", SecurityScheme::Http(HttpBuilder::new().build()));
        ApiKeySecurity.modify(&mut openapi);
        let schemes =
            serde_json::to_value(&openapi).unwrap()["components"]["securitySchemes"].clone();
        assert_eq!(schemes["session"]["scheme"], "basic");
        assert_eq!(schemes["api_key"]["scheme"], "bearer");
        assert_eq!(schemes["api_key"]["bearerFormat"], BEARER_FORMAT);
    }
}
