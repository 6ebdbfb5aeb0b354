//! Hostile input to the emulator, end to end over raw sockets: malformed and
//! truncated JSON, wrong types, missing and extra fields, huge bodies, bad
//! and traversing ids, bad list parameters and timestamps, bad permission
//! slugs, unicode. Each request gets the error body `WIRE.md` and the
//! emulator's docs promise, and the store a client can see is byte for byte
//! the same after it as before.

mod support;

use keygate::emulator::Emulator;
use keygate::types::{OrganizationId, UserId};
use serde_json::{Value, json};
use support::raw_http::RawRequest;
use support::store_snapshot::snapshot;
use support::trace_capture::{self, LeakCheck};

/// One hostile request and the answer the docs promise.
struct Case {
    name: &'static str,
    method: &'static str,
    target: String,
    body: Vec<u8>,
    /// Send the environment secret (almost always).
    secret: Option<String>,
    status: u16,
    code: &'static str,
    /// `errors[0]` as `(code, field)`, when the answer names a field.
    field: Option<(&'static str, &'static str)>,
}

/// What every case is set against.
struct World {
    org: OrganizationId,
    user: UserId,
    org_key_id: String,
    secret: String,
}

fn c(
    name: &'static str,
    method: &'static str,
    target: impl Into<String>,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
    field: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        name,
        method,
        target: target.into(),
        body: body.into(),
        secret: None,
        status,
        code,
        field,
    }
}

const BAD_JSON: &str = "invalid_json";
const INVALID: &str = "invalid_request_parameters";
const NOT_FOUND: &str = "entity_not_found";
const TOO_LARGE: &str = "request_entity_too_large";

fn cases(w: &World) -> Vec<Case> {
    let org_keys = format!("/organizations/{}/api_keys", w.org);
    let user_keys = format!("/user_management/users/{}/api_keys", w.user);
    let expire = format!("/api_keys/{}/expire", w.org_key_id);
    let ok_body = json!({"name": "ci", "permissions": ["posts:read"]}).to_string();
    let name = |extra: Value| {
        let mut body = json!({"name": "ci"});
        body.as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("an object").clone());
        body.to_string()
    };
    // In `metadata`, a free-form JSON object, where the parser must recurse.
    let deep = format!(
        r#"{{"name":"Acme","metadata":{{"a":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(1024 * 1024));
    let just_over = format!(r#"{{"name":"{}"}}"#, "x".repeat(64 * 1024));
    let long_value = format!(r#"{{"value":"sk_{}"}}"#, "a".repeat(70 * 1024));
    let mut cases = vec![
        // Malformed and truncated JSON: 400 invalid_json.
        c("truncated after the key", "POST", &org_keys, r#"{"name": "#, 400, BAD_JSON, None),
        c("truncated inside a string", "POST", &org_keys, r#"{"name": "ab"#, 400, BAD_JSON, None),
        c("form encoding, not JSON", "POST", &org_keys, "name=ci", 400, BAD_JSON, None),
        // An empty body is a missing one: 422 as WorkOS's OpenAPI spec documents.
        c("empty body", "POST", &org_keys, "", 422, INVALID, Some(("body_required", "body"))),
        c("whitespace body", "POST", &org_keys, " \n\t ", 422, INVALID, Some(("body_required", "body"))),
        c("trailing garbage", "POST", &org_keys, r#"{"name":"ci"} x"#, 400, BAD_JSON, None),
        c("two objects", "POST", &org_keys, r#"{"name":"a"}{"name":"b"}"#, 400, BAD_JSON, None),
        c("single quotes", "POST", &org_keys, "{'name': 'ci'}", 400, BAD_JSON, None),
        c("NaN", "POST", &org_keys, r#"{"name":"ci","permissions":NaN}"#, 400, BAD_JSON, None),
        c("trailing comma", "POST", &org_keys, r#"{"name":"ci",}"#, 400, BAD_JSON, None),
        c("invalid UTF-8 in a string", "POST", &org_keys, &b"{\"name\":\"\xff\xfe\"}"[..], 400, BAD_JSON, None),
        c("a lone surrogate escape", "POST", &org_keys, r#"{"name":"\ud800"}"#, 400, BAD_JSON, None),
        c("a raw control character in a string", "POST", &org_keys, "{\"name\":\"a\u{1}b\"}", 400, BAD_JSON, None),
        c("10,000 nested arrays in metadata", "POST", "/organizations", deep, 400, BAD_JSON, None),
        // Wrong types: 422 naming the field.
        c("an array body", "POST", &org_keys, r#"[5]"#, 422, INVALID, Some(("invalid_type", "body"))),
        c("a string body", "POST", &org_keys, r#""ci""#, 422, INVALID, Some(("invalid_type", "body"))),
        c("a null body", "POST", &org_keys, "null", 422, INVALID, Some(("invalid_type", "body"))),
        c("name is a number", "POST", &org_keys, r#"{"name":5}"#, 422, INVALID, Some(("invalid_type", "name"))),
        c("name is null", "POST", &org_keys, r#"{"name":null}"#, 422, INVALID, Some(("invalid_type", "name"))),
        c("name is an object", "POST", &org_keys, r#"{"name":{"en":"ci"}}"#, 422, INVALID, Some(("invalid_type", "name"))),
        c("permissions is a string", "POST", &org_keys, name(json!({"permissions": "posts:read"})), 422, INVALID, Some(("invalid_type", "permissions"))),
        c("a permission is a number", "POST", &org_keys, name(json!({"permissions": ["posts:read", 7]})), 422, INVALID, Some(("invalid_type", "permissions[1]"))),
        // Missing and extra fields.
        c("empty object", "POST", &org_keys, "{}", 422, INVALID, Some(("name_required", "name"))),
        c("misspelt name", "POST", &org_keys, r#"{"nmae":"ci"}"#, 422, INVALID, Some(("name_required", "name"))),
        c("empty name", "POST", &org_keys, r#"{"name":""}"#, 422, INVALID, Some(("name_required", "name"))),
        c("blank name", "POST", &org_keys, r#"{"name":" \t\n "}"#, 422, INVALID, Some(("name_required", "name"))),
        c(
            "extra fields cannot set id, value or owner",
            "POST",
            &org_keys,
            json!({"id": "api_key_01HZZZZZZZZZZZZZZZZZZZZZZZ", "value": "sk_chosen_by_the_caller_0123456789", "owner": {"type": "organization", "id": "org_x"}}).to_string(),
            422,
            INVALID,
            Some(("name_required", "name")),
        ),
        // Permission slugs.
        c("uppercase slug", "POST", &org_keys, name(json!({"permissions": ["Posts:Read"]})), 422, INVALID, Some(("invalid_permission", "permissions[0]"))),
        c("slash in a slug", "POST", &org_keys, name(json!({"permissions": ["posts/read"]})), 422, INVALID, Some(("invalid_permission", "permissions[0]"))),
        c("empty slug", "POST", &org_keys, name(json!({"permissions": [""]})), 422, INVALID, Some(("invalid_permission", "permissions[0]"))),
        c("space in a slug", "POST", &org_keys, name(json!({"permissions": ["posts read"]})), 422, INVALID, Some(("invalid_permission", "permissions[0]"))),
        c("49-character slug", "POST", &org_keys, name(json!({"permissions": ["a".repeat(49)]})), 422, INVALID, Some(("invalid_permission", "permissions[0]"))),
        c("non-ASCII slug", "POST", &org_keys, name(json!({"permissions": ["pôsts:read"]})), 422, INVALID, Some(("invalid_permission", "permissions[0]"))),
        c("slug not on the allow-list", "POST", &org_keys, name(json!({"permissions": ["posts:read", "posts:delete"]})), 422, INVALID, Some(("permission_not_allowed", "permissions[1]"))),
        // Timestamps.
        c("expires_at in words", "POST", &org_keys, name(json!({"expires_at": "tomorrow"})), 422, INVALID, Some(("invalid_type", "expires_at"))),
        c("expires_at as a number", "POST", &org_keys, name(json!({"expires_at": 1_893_456_000})), 422, INVALID, Some(("invalid_type", "expires_at"))),
        c("expires_at on 30 February", "POST", &org_keys, name(json!({"expires_at": "2030-02-30T00:00:00.000Z"})), 422, INVALID, Some(("invalid_type", "expires_at"))),
        c("expires_at without a zone", "POST", &org_keys, name(json!({"expires_at": "2030-01-01 00:00:00"})), 422, INVALID, Some(("invalid_type", "expires_at"))),
        c("expires_at in the past", "POST", &org_keys, name(json!({"expires_at": "2020-01-01T00:00:00.000Z"})), 422, INVALID, Some(("expires_at_not_in_future", "expires_at"))),
        c(
            "unicode name, past expires_at",
            "POST",
            &org_keys,
            json!({"name": "Ācme 🚀 日本 \u{202e}evil\u{200d}", "expires_at": "2001-09-09T01:46:40.000Z"}).to_string(),
            422,
            INVALID,
            Some(("expires_at_not_in_future", "expires_at")),
        ),
        // Huge bodies: 413 before any parsing (the cap is 64 KiB).
        c("a 1 MiB body", "POST", &org_keys, huge, 413, TOO_LARGE, None),
        c("just over 64 KiB", "POST", &org_keys, just_over, 413, TOO_LARGE, None),
        c("a 70 KiB value to validate", "POST", "/api_keys/validations", long_value, 413, TOO_LARGE, None),
        // Bad ids and path traversal: the id is an opaque string, never a path.
        c("unknown organization", "POST", "/organizations/org_01HZZZZZZZZZZZZZZZZZZZZZZZ/api_keys", ok_body.clone(), 404, NOT_FOUND, None),
        c("malformed organization id", "POST", "/organizations/not-an-id/api_keys", ok_body.clone(), 404, NOT_FOUND, None),
        c("encoded ../ in the organization id", "POST", "/organizations/..%2F..%2Fapi_keys/api_keys", ok_body.clone(), 404, NOT_FOUND, None),
        c("raw ../ segments", "POST", format!("/organizations/{}/../../api_keys/validations", w.org), ok_body.clone(), 404, "not_found", None),
        c("encoded ../validations as a key id", "DELETE", "/api_keys/..%2Fvalidations", "", 404, NOT_FOUND, None),
        c("%2e%2e as a key id", "DELETE", "/api_keys/%2e%2e", "", 404, NOT_FOUND, None),
        c("NUL as a key id", "DELETE", "/api_keys/%00", "", 404, NOT_FOUND, None),
        c("a real id with a trailing space", "DELETE", format!("/api_keys/{}%20", w.org_key_id), "", 404, NOT_FOUND, None),
        c("a real id in capitals", "DELETE", format!("/api_keys/{}", w.org_key_id.to_uppercase()), "", 404, NOT_FOUND, None),
        c("a real id with a trailing slash", "DELETE", format!("/api_keys/{}/", w.org_key_id), "", 404, "not_found", None),
        c("invalid UTF-8 in a key id", "DELETE", "/api_keys/%FF%FE", "", 400, "invalid_request", None),
        c("unknown user", "POST", "/user_management/users/user_01HZZZZZZZZZZZZZZZZZZZZZZZ/api_keys", json!({"name": "ci", "organization_id": w.org}).to_string(), 404, NOT_FOUND, None),
        c("emoji as an organization id", "GET", "/organizations/%F0%9F%9A%80/api_keys", "", 404, NOT_FOUND, None),
        // Expire.
        c("expire with expires_at in words", "POST", &expire, r#"{"expires_at":"soon"}"#, 422, INVALID, Some(("invalid_type", "expires_at"))),
        c("expire with a number", "POST", &expire, r#"{"expires_at":5}"#, 422, INVALID, Some(("invalid_type", "expires_at"))),
        c("expire with a string body", "POST", &expire, r#""now""#, 422, INVALID, Some(("invalid_type", "body"))),
        c("expire with truncated JSON", "POST", &expire, r#"{"expires_at":"#, 400, BAD_JSON, None),
        c("expire an unknown key", "POST", "/api_keys/api_key_01HZZZZZZZZZZZZZZZZZZZZZZZ/expire", "", 404, NOT_FOUND, None),
        // User keys: missing fields are a 400 there (WIRE.md, endpoint 3).
        c("user key, empty object", "POST", &user_keys, "{}", 400, INVALID, Some(("name_required", "name"))),
        c("user key, no organization_id", "POST", &user_keys, r#"{"name":"ci"}"#, 400, INVALID, Some(("organization_id_required", "organization_id"))),
        c("user key, unknown organization", "POST", &user_keys, json!({"name": "ci", "organization_id": "org_01HZZZZZZZZZZZZZZZZZZZZZZZ"}).to_string(), 404, NOT_FOUND, None),
        c("user key, permission not enabled for users", "POST", &user_keys, json!({"name": "ci", "organization_id": w.org, "permissions": ["posts:write"]}).to_string(), 422, "permission_not_allowed", None),
        // List parameters: limit 1 to 100, order asc|desc|normal.
        c("limit=0", "GET", format!("{org_keys}?limit=0"), "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("limit=101", "GET", format!("{org_keys}?limit=101"), "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("limit=-1", "GET", format!("{org_keys}?limit=-1"), "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("limit=abc", "GET", format!("{org_keys}?limit=abc"), "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("limit empty", "GET", format!("{org_keys}?limit="), "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("limit=1e2", "GET", format!("{org_keys}?limit=1e2"), "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("limit past u64", "GET", format!("{org_keys}?limit=99999999999999999999999"), "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("order=sideways", "GET", format!("{org_keys}?order=sideways"), "", 422, INVALID, Some(("invalid_order", "order"))),
        c("user keys, limit=101", "GET", format!("{user_keys}?limit=101"), "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("events, limit=0", "GET", "/events?limit=0", "", 422, INVALID, Some(("limit_out_of_range", "limit"))),
        c("events, range_start in words", "GET", "/events?range_start=yesterday", "", 422, INVALID, Some(("invalid_timestamp", "range_start"))),
        c("events, range_end in month 13", "GET", "/events?range_end=2026-13-01T00:00:00.000Z", "", 422, INVALID, Some(("invalid_timestamp", "range_end"))),
        // Validation requests.
        c("validate, no value", "POST", "/api_keys/validations", "{}", 422, INVALID, Some(("value_required", "value"))),
        c("validate, value is a number", "POST", "/api_keys/validations", r#"{"value":5}"#, 422, INVALID, Some(("invalid_type", "value"))),
        c("validate, value is null", "POST", "/api_keys/validations", r#"{"value":null}"#, 422, INVALID, Some(("invalid_type", "value"))),
        // Organizations and memberships.
        c("organization name is a number", "POST", "/organizations", r#"{"name":5}"#, 422, INVALID, Some(("invalid_type", "name"))),
        c("deactivate an unknown membership", "PUT", "/user_management/organization_memberships/om_01HZZZZZZZZZZZZZZZZZZZZZZZ/deactivate", "", 404, NOT_FOUND, None),
        c("delete an unknown organization", "DELETE", "/organizations/org_01HZZZZZZZZZZZZZZZZZZZZZZZ", "", 404, NOT_FOUND, None),
        c("PATCH a key", "PATCH", format!("/api_keys/{}", w.org_key_id), ok_body.clone(), 405, "method_not_allowed", None),
    ];
    // Without the environment secret, even a valid request changes nothing.
    let mut no_secret = c(
        "a valid create, no secret",
        "POST",
        &org_keys,
        ok_body.clone(),
        401,
        "unauthorized",
        None,
    );
    no_secret.secret = Some(String::new());
    let mut wrong_secret = c(
        "a valid create, wrong secret",
        "POST",
        &org_keys,
        ok_body,
        401,
        "unauthorized",
        None,
    );
    wrong_secret.secret = Some("sk_test_not_the_secret".into());
    cases.extend([no_secret, wrong_secret]);
    for case in &mut cases {
        if case.secret.is_none() {
            case.secret = Some(w.secret.clone());
        }
    }
    cases
}

async fn world(emu: &Emulator) -> World {
    let org = emu.create_organization("Acme").expect("organization");
    let user = emu.create_user("ada@example.com").expect("user");
    emu.create_membership(&user.id, &org.id)
        .expect("membership");
    let org_key = emu
        .create_organization_key(&org.id, "ci", &["posts:read"])
        .expect("organization key");
    trace_capture::secret(org_key.value.expose_secret());
    let user_key = emu
        .create_user_key(&user.id, &org.id, "laptop", &["posts:read"])
        .expect("user key");
    trace_capture::secret(user_key.value.expose_secret());
    World {
        org: org.id,
        user: user.id,
        org_key_id: org_key.api_key.id.to_string(),
        secret: emu.secret().expose_secret().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_gets_its_error_and_changes_nothing() {
    let _leaks = LeakCheck::start();
    let emu = support::app::emulator().await;
    let w = world(&emu).await;
    let cases = cases(&w);
    assert!(cases.len() >= 40, "the issue asks for 40 cases or more");

    let mut before = snapshot(&emu).await;
    let mut failures = Vec::new();
    for case in &cases {
        let mut request =
            RawRequest::new(case.method, case.target.as_bytes()).body(case.body.clone());
        if let Some(secret) = case.secret.as_deref().filter(|s| !s.is_empty()) {
            request = request.header("Authorization", format!("Bearer {secret}"));
        }
        if !case.body.is_empty() {
            request = request.header("Content-Type", "application/json");
        }
        let Some(response) = request.send(emu.local_addr()).await else {
            failures.push(format!("{}: no response", case.name));
            continue;
        };
        let body = response.json();
        let mut wrong = Vec::new();
        if response.status != case.status {
            wrong.push(format!("status {} (want {})", response.status, case.status));
        }
        if body["code"] != case.code {
            wrong.push(format!("code {} (want {})", body["code"], case.code));
        }
        if body["message"].as_str().is_none_or(|m| m.len() < 10) {
            wrong.push("no message saying what was wrong".into());
        }
        if let Some((code, field)) = case.field {
            let first = &body["errors"][0];
            if first["code"] != code || first["field"] != field {
                wrong.push(format!(
                    "errors {} (want [{{code: {code}, field: {field}}}])",
                    body["errors"]
                ));
            }
        }
        if case.code == NOT_FOUND && !body["entity_id"].is_string() {
            wrong.push("a 404 without entity_id".into());
        }
        if response.header("x-request-id").is_none() {
            wrong.push("no X-Request-ID".into());
        }
        let after = snapshot(&emu).await;
        if after != before {
            wrong.push("the store changed".into());
            // Judge the next case against the store as it now is.
            before = after;
        }
        if !wrong.is_empty() {
            // A wrongly created key's value stays out of the failure message.
            let mut shown = body.clone();
            if let Some(object) = shown.as_object_mut() {
                object.remove("value");
            }
            let shown: String = shown.to_string().chars().take(300).collect();
            failures.push(format!(
                "{}: {} -- got {} {shown}",
                case.name,
                wrong.join("; "),
                response.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The other side of "unicode names": valid unicode is kept byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_names_round_trip_exactly() {
    let _leaks = LeakCheck::start();
    let emu = support::app::emulator().await;
    let client = support::app::client(emu.base_url(), emu.secret());
    let names = [
        "Ācme GmbH & Co. KG",
        "日本語の組織",
        "🚀🔑 keys",
        "right-to-left \u{202e}txt.exe",
        "zero\u{200d}width\u{200b}joiners",
        "combining e\u{301}\u{301}\u{301}",
        "NUL \u{0} inside",
        "quotes \" ' ` and \\ backslash",
        "<script>alert(1)</script>",
        "../../etc/passwd",
    ];
    let org = emu.create_organization(names[0]).expect("organization");
    for name in names {
        let created = client
            .create_organization_api_key(
                &org.id,
                keygate::types::CreateOrganizationApiKey {
                    name: name.to_owned(),
                    permissions: vec![],
                    expires_at: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        let value = trace_capture::secret(created.value.expose_secret());
        let validated = client
            .validate_api_key(&value)
            .await
            .expect("validates")
            .expect("valid");
        assert_eq!(validated.name, name);
        assert_eq!(
            emu.api_key(created.api_key.id.as_str()).expect("kept").name,
            name
        );
    }
    let listed = snapshot(&emu).await;
    let listed: Vec<&str> = listed["organization_keys"][0][org.id.as_str()]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["name"].as_str().expect("a name"))
        .collect();
    let mut want = names.to_vec();
    want.sort_unstable();
    let mut got = listed.clone();
    got.sort_unstable();
    assert_eq!(got, want);
}

/// A body must be a JSON object (the emulator's `routes/body.rs` docs: "The
/// request body must be a JSON object."). serde's derived `Deserialize` also
/// reads a struct from a JSON array, field by field in order; the emulator
/// must therefore refuse anything but an object before deserializing (it once
/// took an array that happened to fit as the fields in order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_is_not_an_object() {
    let _leaks = LeakCheck::start();
    let emu = support::app::emulator().await;
    let w = world(&emu).await;
    for (path, body) in [
        (format!("/organizations/{}/api_keys", w.org), r#"["ci"]"#),
        (
            format!("/organizations/{}/api_keys", w.org),
            r#"["ci", ["posts:read"], null]"#,
        ),
        (format!("/api_keys/{}/expire", w.org_key_id), "[]"),
        (
            "/api_keys/validations".to_owned(),
            r#"["sk_anything_at_all_0123456789"]"#,
        ),
    ] {
        let before = snapshot(&emu).await;
        let response = RawRequest::new("POST", path.as_bytes())
            .header("Authorization", format!("Bearer {}", w.secret))
            .header("Content-Type", "application/json")
            .body(body)
            .send(emu.local_addr())
            .await
            .expect("an answer");
        let json = response.json();
        // Not the whole body: a 201 would carry the new key's value.
        assert_eq!(
            (response.status, &json["errors"][0]["field"]),
            (422, &json!("body")),
            "{path} {body}: answered {} {}",
            json["object"],
            json["id"]
        );
        assert_eq!(
            snapshot(&emu).await,
            before,
            "{path} {body}: the store changed"
        );
    }
}

// ---------------------------------------------------------------------------
// Permission slugs, as a property: the wire model, the layer's const check
// and the emulator all agree with the grammar of WIRE.md.

/// WIRE.md: "lowercase letters, digits and `:` `-` `_` `.`, 1–48
/// characters, no `/`", written out plainly.
fn slug_grammar(slug: &str) -> bool {
    (1..=48).contains(&slug.chars().count())
        && slug
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | ':' | '-' | '_' | '.'))
}

fn slug_world() -> &'static (tokio::runtime::Runtime, Emulator, OrganizationId) {
    static WORLD: std::sync::OnceLock<(tokio::runtime::Runtime, Emulator, OrganizationId)> =
        std::sync::OnceLock::new();
    WORLD.get_or_init(|| {
        trace_capture::install();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        // No allow-list: any well-formed slug is allowed, so only the form is judged.
        let emu = rt.block_on(Emulator::start()).expect("the emulator starts");
        trace_capture::secret(emu.secret().expose_secret());
        let org = emu.create_organization("Slugs").expect("org").id;
        (rt, emu, org)
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn permission_slugs_follow_the_grammar(
        slug in proptest::prop_oneof![
            "[a-z0-9:._-]{0,50}",
            "[a-zA-Z0-9:._/ é*-]{0,50}",
            ".{0,12}",
        ],
    ) {
        let want = slug_grammar(&slug);
        proptest::prop_assert_eq!(keygate::types::validate_permission(&slug).is_ok(), want, "types: {:?}", slug);
        proptest::prop_assert_eq!(keygate::types::Permission::parse(slug.clone()).is_ok(), want, "Permission::parse: {:?}", slug);
        proptest::prop_assert_eq!(keygate::types::is_valid_permission(&slug), want, "layer: {:?}", slug);
        let (_rt, emu, org) = slug_world();
        let created = emu.create_organization_key(org, "slug", &[slug.as_str()]);
        match &created {
            Ok(key) => {
                trace_capture::secret(key.value.expose_secret());
                proptest::prop_assert!(want, "the emulator accepted {:?}", slug);
                proptest::prop_assert_eq!(&key.api_key.permissions, &vec![slug.clone()]);
            }
            Err(e) => {
                proptest::prop_assert!(!want, "the emulator refused {:?}: {}", slug, e);
                proptest::prop_assert_eq!(e.status(), 422);
                proptest::prop_assert_eq!(&e.body().errors[0].code, "invalid_permission");
            }
        }
    }
}
