use std::time::Duration;

use bytes::Bytes;
use http::Response;

use super::*;

fn www(r: &AuthRejection, realm: Option<&str>) -> String {
    r.www_authenticate(realm)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn statuses_and_challenges_follow_the_table() {
    let realm = Some("api");
    let missing = AuthRejection::MissingCredential;
    assert_eq!(missing.status(), 401);
    assert_eq!(www(&missing, realm), r#"Bearer realm="api""#);

    let scheme = AuthRejection::Credential(CredentialError::UnsupportedScheme);
    assert_eq!(scheme.status(), 401);
    assert_eq!(www(&scheme, realm), r#"Bearer realm="api""#);

    let malformed = AuthRejection::Credential(CredentialError::SeveralAuthorizationHeaders);
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        www(&malformed, realm),
        r#"Bearer realm="api", error="invalid_request", error_description="the request carries several Authorization headers; send exactly one""#
    );

    let invalid = AuthRejection::InvalidToken(InvalidToken::Rejected);
    assert_eq!(invalid.status(), 401);
    assert_eq!(
        www(&invalid, realm),
        r#"Bearer realm="api", error="invalid_token", error_description="the API key is unknown, revoked or expired""#
    );

    let scope = AuthRejection::InsufficientScope(InsufficientScope::new(
        &["posts:read", "posts:write"],
        false,
    ));
    assert_eq!(scope.status(), 403);
    let challenge = www(&scope, None);
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope", error_description=""#),
        "{challenge}"
    );
    assert!(
        challenge.ends_with(r#", scope="posts:read posts:write""#),
        "{challenge}"
    );

    let down = AuthRejection::Unavailable {
        retry_after: Duration::from_millis(1500),
    };
    assert_eq!(down.status(), 503);
    assert_eq!(www(&down, realm), "");
    assert_eq!(
        AuthRejection::Misconfigured("x").status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[test]
fn response_carries_body_headers_and_the_typed_rejection() {
    let down = AuthRejection::Unavailable {
        retry_after: Duration::from_millis(1500),
    };
    let response: Response<Bytes> = down.to_response(Some("api"));
    assert_eq!(response.headers()[RETRY_AFTER], "2");
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("retry in 2 s")
    );
    assert_eq!(response.extensions().get::<AuthRejection>(), Some(&down));
}

#[test]
fn retry_after_is_whole_seconds_at_least_one() {
    assert_eq!(retry_after_secs(Duration::ZERO), 1);
    assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
    assert_eq!(retry_after_secs(Duration::from_secs(5)), 5);
    assert_eq!(retry_after_secs(Duration::from_millis(5001)), 6);
}

#[test]
fn realm_is_quoted_safely() {
    let challenge = www(&AuthRejection::MissingCredential, Some("a \"b\" \\ c\n"));
    assert_eq!(challenge, r#"Bearer realm="a \"b\" \\ c""#);
}

#[test]
fn closures_replace_the_response_and_the_rejection_still_rides_along() {
    let custom = |r: &AuthRejection| {
        let mut response = Response::new(Bytes::from_static(b"nope"));
        *response.status_mut() = r.status();
        response
    };
    let response = Refusals::new(custom).render(AuthRejection::MissingCredential);
    assert_eq!(response.body(), &Bytes::from_static(b"nope"));
    assert_eq!(
        response.extensions().get::<AuthRejection>(),
        Some(&AuthRejection::MissingCredential)
    );
}

// ---- Review tests ----

#[test]
fn a_huge_retry_after_renders() {
    // `ValidatorError::with_retry_after(Duration::MAX)` or `.retry_after(Duration::MAX)`.
    let r = AuthRejection::Unavailable {
        retry_after: Duration::MAX,
    };
    let response: Response<Bytes> = r.to_response(None);
    assert_eq!(
        response.headers()["retry-after"],
        u64::MAX.to_string().as_str()
    );
}
