use std::collections::BTreeMap;

use ::metrics::with_local_recorder;
use http::{Response, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use super::organizations::Organizations;
use super::recorded::increment;
use super::{Caller, answered, refused};
use crate::{AuthRejection, CredentialError, InsufficientScope, InvalidToken};

/// Runs `f` under a recorder of its own and returns its counters as
/// `name{label=value}` → count.
fn counted(f: impl FnOnce()) -> BTreeMap<String, u64> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    with_local_recorder(&recorder, f);
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            match value {
                DebugValue::Counter(n) => {
                    Some((format!("{}{{{}}}", key.name(), labels.join(",")), n))
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn organizations_past_the_bound_are_counted_as_other() {
    let organizations = Organizations::new(2);
    let counts = counted(|| {
        for org in ["org_a", "org_b", "org_c", "org_a", "org_d", "org_c"] {
            organizations.count(org, increment);
        }
    });
    let name = "keygate_auth_organization_requests_total";
    let expected: BTreeMap<String, u64> = [
        (format!("{name}{{organization=org_a}}"), 2),
        (format!("{name}{{organization=org_b}}"), 1),
        (format!("{name}{{organization=other}}"), 3),
    ]
    .into();
    assert_eq!(counts, expected);
}

#[test]
fn a_bound_of_zero_counts_no_organization() {
    let organizations = Organizations::new(0);
    assert!(counted(|| organizations.count("org_a", increment)).is_empty());
}

#[test]
fn outcomes_follow_the_rejection_not_the_rendered_status() {
    let counts = counted(|| {
        refused(&AuthRejection::MissingCredential);
        refused(&AuthRejection::Credential(
            CredentialError::UnsupportedScheme,
        ));
        refused(&AuthRejection::Credential(CredentialError::NotToken68));
        refused(&InvalidToken::Expired.into());
        refused(&AuthRejection::Unavailable {
            retry_after: std::time::Duration::from_secs(1),
        });
        // A guard's refusal that a custom `OnRejection` answered with 404.
        let mut hidden = Response::new(());
        *hidden.status_mut() = StatusCode::NOT_FOUND;
        hidden
            .extensions_mut()
            .insert(AuthRejection::from(InsufficientScope::new(
                &["posts:write"],
                false,
            )));
        answered(&hidden, Caller::Key);
        // Statuses of the inner service's own.
        for (status, caller) in [
            (StatusCode::OK, Caller::Key),
            (StatusCode::INTERNAL_SERVER_ERROR, Caller::Key),
            (StatusCode::TOO_MANY_REQUESTS, Caller::Key),
            (StatusCode::FORBIDDEN, Caller::Anonymous),
            (StatusCode::OK, Caller::Anonymous),
        ] {
            let mut response = Response::new(());
            *response.status_mut() = status;
            answered(&response, caller);
        }
    });
    let outcome = |o: &str| format!("keygate_auth_requests_total{{outcome={o}}}");
    let expected: BTreeMap<String, u64> = [
        (outcome("missing_credential"), 2),
        (outcome("malformed_credential"), 1),
        (outcome("invalid_credential"), 1),
        (outcome("unavailable"), 1),
        (outcome("forbidden"), 2),
        (outcome("accepted"), 2),
        (outcome("rate_limited"), 1),
        (outcome("anonymous"), 1),
    ]
    .into();
    assert_eq!(counts, expected);
}

#[test]
fn authenticated_requests_are_counted_by_credential() {
    let metrics = super::LayerMetrics::new(&super::MetricsConfig { organizations: 0 });
    let key = crate::ApiKeyPrincipal::new(crate::cache::tests::api_key(1, None));
    let counts = counted(|| {
        metrics.authenticated(&key);
        metrics.authenticated(&key);
        #[cfg(feature = "jwt")]
        metrics.authenticated(&crate::ApiKeyPrincipal::session(
            keygate_types::UserId::new_unchecked("user_01"),
            keygate_types::OrganizationId::new_unchecked("org_01"),
            "session_01".to_owned(),
            Vec::new(),
            keygate_types::Timestamp::now(),
        ));
    });
    let name = "keygate_auth_credentials_total";
    assert_eq!(
        counts.get(&format!("{name}{{credential=api_key}}")),
        Some(&2)
    );
    #[cfg(feature = "jwt")]
    assert_eq!(
        counts.get(&format!("{name}{{credential=session}}")),
        Some(&1)
    );
    assert_eq!(counts.get(&format!("{name}{{credential=m2m}}")), None);
}
