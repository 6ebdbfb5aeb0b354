//! Hostile credentials against the layer, end to end: raw bytes on a real
//! socket to an axum app behind `keygate::ApiKeyAuth`, validating through
//! `keygate::Client` against the in-process emulator.
//!
//! Each row of [`cases`] is one request; each gets the status and challenge
//! the response table of `keygate_auth` documents (or, where hyper refuses
//! the bytes before any layer runs, hyper's own status), and the emulator's
//! counter proves that no syntactically invalid credential reached the key
//! service. A panic hook proves that nothing panicked. A proptest then
//! checks the layer against a transcription of the grammar.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use keygate::ApiKeyAuth;
use keygate::types::SecretString;
use keygate::validator::validator_fn;
use proptest::prelude::*;
use support::app::{self, Server};
use support::raw_http::{RawRequest, RawResponse};
use support::trace_capture::{self, LeakCheck};

/// What the documentation says a case gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 200: the key is valid (the key service may be asked once).
    Accepted,
    /// 401 `Bearer realm="api"`: no credential, or another scheme. Not asked.
    Challenge,
    /// 400 `invalid_request`: malformed. Not asked.
    Malformed,
    /// 401 `invalid_token`: well formed, unknown to the key service. Asked once.
    Unknown,
    /// hyper refuses the request before the layer runs, with this status.
    /// Not asked.
    Hyper(u16),
}

impl Expect {
    fn status(self) -> u16 {
        match self {
            Expect::Accepted => 200,
            Expect::Challenge | Expect::Unknown => 401,
            Expect::Malformed => 400,
            Expect::Hyper(status) => status,
        }
    }

    /// The `WWW-Authenticate` value, whole or its start.
    fn challenge(self) -> Option<&'static str> {
        match self {
            Expect::Challenge => Some(r#"Bearer realm="api""#),
            Expect::Malformed => {
                Some(r#"Bearer realm="api", error="invalid_request", error_description=""#)
            }
            Expect::Unknown => {
                Some(r#"Bearer realm="api", error="invalid_token", error_description=""#)
            }
            Expect::Accepted | Expect::Hyper(_) => None,
        }
    }

    /// The `error` of the JSON body.
    fn body_error(self) -> Option<&'static str> {
        match self {
            Expect::Challenge => Some("unauthorized"),
            Expect::Malformed => Some("invalid_request"),
            Expect::Unknown => Some("invalid_token"),
            Expect::Accepted | Expect::Hyper(_) => None,
        }
    }

    /// How many validations the key service may see for this request.
    fn upstream(self) -> std::ops::RangeInclusive<u64> {
        match self {
            Expect::Accepted => 0..=1,
            Expect::Unknown => 1..=1,
            Expect::Challenge | Expect::Malformed | Expect::Hyper(_) => 0..=0,
        }
    }
}

struct Case {
    name: &'static str,
    target: Vec<u8>,
    /// Whole header lines, sent as they are.
    lines: Vec<Vec<u8>>,
    expect: Expect,
}

fn case(name: &'static str, lines: Vec<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        target: b"/whoami".to_vec(),
        lines,
        expect,
    }
}

/// One `Authorization` line with these value bytes.
fn auth(value: impl AsRef<[u8]>) -> Vec<Vec<u8>> {
    let mut line = b"Authorization: ".to_vec();
    line.extend_from_slice(value.as_ref());
    vec![line]
}

/// Unknown, well-formed, never-seen-before tokens (so the negative cache
/// cannot hide a call), registered as secrets.
struct Fresh(u32);

impl Fresh {
    fn token(&mut self) -> String {
        self.0 += 1;
        trace_capture::secret(format!("sk_hostile{:06}zQ7xW2", self.0))
    }

    /// A fresh token padded with `a` to `len` bytes.
    fn token_of(&mut self, len: usize) -> String {
        let mut token = self.token();
        token.extend(std::iter::repeat_n('a', len - token.len()));
        token
    }
}

/// The table. `k` is a valid key.
fn cases(k: &str) -> Vec<Case> {
    use Expect::*;
    let mut f = Fresh(0);
    let kb = k.as_bytes();
    let with = |prefix: &[u8], suffix: &[u8]| [prefix, kb, suffix].concat();
    vec![
        // Missing, empty, bare.
        case("no Authorization header", vec![], Challenge),
        case("empty value", auth(""), Malformed),
        case("only spaces", auth("     "), Malformed),
        case("bare Bearer", auth("Bearer"), Malformed),
        case("Bearer and one space", auth("Bearer "), Malformed),
        case("Bearer and spaces", auth("Bearer        "), Malformed),
        case("Bearer and tabs", auth("Bearer\t\t"), Malformed),
        case("Bearer, space, tab", auth("Bearer \t "), Malformed),
        case(
            "a tab between scheme and key",
            auth(with(b"Bearer\t", b"")),
            Malformed,
        ),
        // The scheme is case-insensitive; spaces around are fine.
        case("valid key", auth(with(b"Bearer ", b"")), Accepted),
        case("lowercase bearer", auth(with(b"bearer ", b"")), Accepted),
        case("uppercase BEARER", auth(with(b"BEARER ", b"")), Accepted),
        case("mixed-case bEaReR", auth(with(b"bEaReR ", b"")), Accepted),
        case(
            "several spaces before the key",
            auth(with(b"Bearer     ", b"")),
            Accepted,
        ),
        case(
            "whitespace around the value",
            auth(with(b"  \tBearer ", b" \t ")),
            Accepted,
        ),
        case(
            "header name in capitals",
            vec![with(b"AUTHORIZATION: Bearer ", b"")],
            Accepted,
        ),
        case(
            "unknown key",
            auth(format!("Bearer {}", f.token())),
            Unknown,
        ),
        case(
            "unknown key, lowercase scheme",
            auth(format!("bearer {}", f.token())),
            Unknown,
        ),
        // Other schemes: 401 without an error code (RFC 6750 § 3.1).
        case("Basic", auth("Basic dXNlcjpwYXNzd29yZA=="), Challenge),
        case(
            "Digest",
            auth(r#"Digest username="ada", realm="api""#),
            Challenge,
        ),
        case(
            "Token scheme with a valid key",
            auth(with(b"Token ", b"")),
            Challenge,
        ),
        case("Bearer2 scheme", auth(with(b"Bearer2 ", b"")), Challenge),
        case("the key with no scheme", auth(k), Challenge),
        case(
            "a 1 KiB scheme",
            auth(format!("{} x", "B".repeat(1024))),
            Malformed,
        ),
        case(
            "scheme with a parenthesis",
            auth(with(b"Bea(rer ", b"")),
            Malformed,
        ),
        // Tokens that are not token68.
        case(
            "a space inside the token",
            auth(with(b"Bearer ", b" tail")),
            Malformed,
        ),
        case(
            "two tokens",
            auth([&b"Bearer "[..], kb, b" ", kb].concat()),
            Malformed,
        ),
        case(
            "double-quoted token",
            auth(with(b"Bearer \"", b"\"")),
            Malformed,
        ),
        case(
            "single-quoted token",
            auth(with(b"Bearer '", b"'")),
            Malformed,
        ),
        case(
            "comma-separated tokens",
            auth([&b"Bearer "[..], kb, b",", kb].concat()),
            Malformed,
        ),
        case(
            "a second credential after a comma",
            auth(with(b"Bearer ", b", Basic eA==")),
            Malformed,
        ),
        case(
            "auth-param form",
            auth(with(b"Bearer token=\"", b"\"")),
            Malformed,
        ),
        case(
            "= inside the token",
            auth(with(b"Bearer ", b"=x")),
            Malformed,
        ),
        case("leading =", auth(with(b"Bearer =", b"")), Malformed),
        case(
            "trailing semicolon",
            auth(with(b"Bearer ", b";")),
            Malformed,
        ),
        case(
            "percent-encoded underscore",
            auth("Bearer sk%5Fabcdef"),
            Malformed,
        ),
        case("backslash", auth("Bearer sk\\abcdef"), Malformed),
        case(
            "trailing = padding (token68)",
            auth(format!("Bearer {}==", f.token())),
            Unknown,
        ),
        case(
            "all token68 punctuation",
            auth(format!("Bearer -._~+/{}", f.token())),
            Unknown,
        ),
        case("the word null", auth("Bearer null"), Unknown),
        case("the word undefined", auth("Bearer undefined"), Unknown),
        // Control characters: hyper refuses them in header values (RFC 9110
        // § 5.5) with 400 before any layer runs.
        case("NUL byte", auth(with(b"Bearer ", b"\x00")), Hyper(400)),
        case("SOH byte", auth(with(b"Bearer \x01", b"")), Hyper(400)),
        case("ESC byte", auth(with(b"Bearer ", b"\x1b[0m")), Hyper(400)),
        case("vertical tab", auth(with(b"Bearer\x0b", b"")), Hyper(400)),
        case("DEL byte", auth(with(b"Bearer ", b"\x7f")), Hyper(400)),
        case(
            "bare CR inside the value",
            auth(with(b"Bearer ", b"\rX")),
            Hyper(400),
        ),
        case(
            "obs-fold continuation line",
            auth(with(b"Bearer\r\n ", b"")),
            Hyper(400),
        ),
        case(
            "space before the colon",
            vec![with(b"Authorization : Bearer ", b"")],
            Hyper(400),
        ),
        // Non-ASCII and invalid UTF-8: the layer refuses them.
        case(
            "é in the token (UTF-8)",
            auth(with(b"Bearer ", "é".as_bytes())),
            Malformed,
        ),
        case(
            "emoji before the token",
            auth(with("Bearer 🔑".as_bytes(), b"")),
            Malformed,
        ),
        case(
            "no-break space as separator",
            auth(with("Bearer\u{a0}".as_bytes(), b"")),
            Malformed,
        ),
        case(
            "fullwidth B in the scheme",
            auth(with("Ｂearer ".as_bytes(), b"")),
            Malformed,
        ),
        case(
            "invalid UTF-8 FF FE",
            auth(with(b"Bearer ", b"\xff\xfe")),
            Malformed,
        ),
        case(
            "truncated UTF-8 sequence",
            auth(with(b"Bearer ", b"\xc3")),
            Malformed,
        ),
        case(
            "overlong UTF-8 slash",
            auth(with(b"Bearer ", b"\xc0\xaf")),
            Malformed,
        ),
        case(
            "Latin-1 byte in the scheme",
            auth(with(b"B\xe9arer ", b"")),
            Malformed,
        ),
        // Lengths: the cap (256) comes before anything else.
        case(
            "a 256-byte token (the cap)",
            auth(format!("Bearer {}", f.token_of(256))),
            Unknown,
        ),
        case(
            "a 257-byte token",
            auth(format!("Bearer {}", f.token_of(257))),
            Malformed,
        ),
        case(
            "an 8 KiB token",
            auth(format!("Bearer {}", f.token_of(8 * 1024))),
            Malformed,
        ),
        case(
            "a 64 KiB token",
            auth(format!("Bearer {}", f.token_of(64 * 1024))),
            Malformed,
        ),
        case(
            "8 KiB of spaces, then the key",
            auth(with(
                format!("Bearer{}", " ".repeat(8 * 1024)).as_bytes(),
                b"",
            )),
            Malformed,
        ),
        // Several Authorization headers: 400, whatever they hold.
        case(
            "the same valid key twice",
            [auth(with(b"Bearer ", b"")), auth(with(b"Bearer ", b""))].concat(),
            Malformed,
        ),
        case(
            "two headers, different name case",
            vec![
                with(b"Authorization: Bearer ", b""),
                with(b"authorization: Bearer ", b""),
            ],
            Malformed,
        ),
        case(
            "valid, then empty",
            [auth(with(b"Bearer ", b"")), auth("")].concat(),
            Malformed,
        ),
        case(
            "empty, then valid",
            [auth(""), auth(with(b"Bearer ", b""))].concat(),
            Malformed,
        ),
        case(
            "Basic, then a valid Bearer",
            [auth("Basic eDp5"), auth(with(b"Bearer ", b""))].concat(),
            Malformed,
        ),
        case(
            "50 Authorization headers",
            (0..50).flat_map(|_| auth(with(b"Bearer ", b""))).collect(),
            Malformed,
        ),
        // hyper's limit is 100 header lines: beyond it, 431 before any layer.
        case(
            "120 Authorization headers",
            (0..120).flat_map(|_| auth(with(b"Bearer ", b""))).collect(),
            Hyper(431),
        ),
        // Sources that are off by default are ignored: no credential.
        case(
            "Proxy-Authorization only",
            vec![with(b"Proxy-Authorization: Bearer ", b"")],
            Challenge,
        ),
        case(
            "X-Api-Key only (not enabled)",
            vec![with(b"X-Api-Key: ", b"")],
            Challenge,
        ),
        Case {
            name: "key in the query (not enabled)",
            target: with(b"/whoami?api_key=", b""),
            lines: vec![],
            expect: Challenge,
        },
    ]
}

/// Counts panics on the runtime's worker threads, where the server runs.
fn panics() -> &'static AtomicU64 {
    static PANICS: AtomicU64 = AtomicU64::new(0);
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("tokio-runtime-worker") {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    &PANICS
}

/// The outcome of a case, for the failure message.
fn describe(r: &Option<RawResponse>) -> String {
    match r {
        None => "no response (connection closed)".into(),
        Some(r) => format!(
            "{} www-authenticate={:?} body={}",
            r.status,
            r.header("www-authenticate"),
            String::from_utf8_lossy(&r.body)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_credential_gets_its_documented_answer() {
    let _leaks = LeakCheck::start();
    let panics = panics();
    let emu = app::emulator().await;
    let (key, value) = app::organization_key(&emu, &["posts:read"]);
    let auth = ApiKeyAuth::new(app::client(emu.base_url(), emu.secret()));
    let server = Server::start(app::whoami_router(auth)).await;

    let cases = cases(&value);
    assert!(cases.len() >= 40, "the issue asks for 40 cases or more");
    let mut failures = Vec::new();
    for case in &cases {
        let mut request = RawRequest::new("GET", case.target.clone());
        for line in &case.lines {
            request = request.header_line(line.clone());
        }
        let before = app::validations(&emu);
        let response = request.send(server.addr).await;
        let calls = app::validations(&emu) - before;
        let mut wrong = Vec::new();
        match &response {
            None => wrong.push("no response".to_owned()),
            Some(r) => {
                if r.status != case.expect.status() {
                    wrong.push(format!(
                        "status {} (want {})",
                        r.status,
                        case.expect.status()
                    ));
                }
                let challenge = r.header("www-authenticate");
                match (case.expect.challenge(), &challenge) {
                    (None, None) => {}
                    (Some(want), Some(got))
                        if got == want || (want.ends_with('"') && got.starts_with(want)) =>
                    {
                        if case.expect == Expect::Challenge && got != want {
                            wrong.push(format!("challenge {got:?}"));
                        }
                    }
                    (want, got) => wrong.push(format!("challenge {got:?} (want {want:?})")),
                }
                if let Some(error) = case.expect.body_error() {
                    let body = r.json();
                    if body["error"] != error || !body["error_description"].is_string() {
                        wrong.push(format!("body {body} (want error {error:?})"));
                    }
                }
                if case.expect == Expect::Accepted && r.body != key.id.as_str().as_bytes() {
                    wrong.push("body is not the key's id".into());
                }
                // A refusal never echoes the credential back.
                if case.expect != Expect::Accepted
                    && r.body.windows(value.len()).any(|w| w == value.as_bytes())
                {
                    wrong.push("the body echoes the key".into());
                }
            }
        }
        if !case.expect.upstream().contains(&calls) {
            wrong.push(format!(
                "{calls} calls to the key service (want {:?})",
                case.expect.upstream()
            ));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {} -- got {}",
                case.name,
                wrong.join("; "),
                describe(&response)
            ));
        }
    }
    // After all that, the server still serves the valid key.
    let last = RawRequest::new("GET", "/whoami")
        .header("Authorization", format!("Bearer {value}"))
        .send(server.addr)
        .await;
    assert_eq!(last.map(|r| r.status), Some(200), "the server survived");
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a request panicked");
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The layer against a transcription of the grammar, without sockets (the
// socket cases above cover the transport; this covers the input space).

/// What the grammar says about one `Authorization` value.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The layer must pass exactly this token to the validator.
    Token(String),
    /// 401 without an error code: another scheme.
    OtherScheme,
    /// 400 `invalid_request`.
    Malformed,
}

/// RFC 9110 OWS trimming, RFC 7235 `credentials = auth-scheme [ 1*SP token68 ]`,
/// RFC 6750's case-insensitive "Bearer", and keygate's 256-byte cap, written
/// out plainly and independently of the layer.
fn grammar(value: &str) -> Verdict {
    const TCHAR_EXTRA: &str = "!#$%&'*+-.^_`|~";
    const T68_EXTRA: &str = "-._~+/";
    const CAP: usize = 256;
    // Whole-header cap: the key plus room for the scheme.
    if value.len() > CAP + 16 {
        return Verdict::Malformed;
    }
    if !value.is_ascii() {
        return Verdict::Malformed;
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || TCHAR_EXTRA.contains(c);
    if scheme.is_empty() || !scheme.chars().all(is_tchar) {
        return Verdict::Malformed;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Verdict::OtherScheme;
    }
    let token = rest.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let is_t68 = |c: char| c.is_ascii_alphanumeric() || T68_EXTRA.contains(c);
    if body.is_empty() || !body.chars().all(is_t68) || token.len() > CAP {
        return Verdict::Malformed;
    }
    Verdict::Token(token.to_owned())
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_layer_follows_the_grammar(
        value in prop_oneof![
            // Near misses of the valid form.
            "[ \t]{0,2}(?i:bearer|basic|bearer2|be@rer|)[ \t]{0,3}[A-Za-z0-9._~+/=\\- \t\",;é]{0,24}[ \t]{0,2}",
            // Long ones, around the cap.
            "Bearer [a-z]{250,270}",
            "Bearer {0,20}[a-z]{240,260}",
            // Anything printable.
            "[ -~\t]{0,40}",
        ],
    ) {
        let Ok(header) = http::HeaderValue::from_str(&value) else {
            // http itself refuses it; hyper would have answered 400.
            return Ok(());
        };
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = Arc::clone(&seen);
        let validator = validator_fn(move |key: SecretString| {
            record.lock().unwrap().push(key.expose_secret().to_owned());
            async { Ok(None) }
        });
        let app = app::whoami_router(ApiKeyAuth::new(validator));
        let request = http::Request::get("/whoami")
            .header(http::header::AUTHORIZATION, header)
            .body(axum::body::Body::empty())
            .expect("a request");
        let response = runtime()
            .block_on(tower::ServiceExt::oneshot(app, request))
            .expect("infallible");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let seen = seen.lock().unwrap().clone();
        match grammar(&value) {
            Verdict::Token(token) => {
                prop_assert_eq!(status, 401, "{:?}", value);
                prop_assert!(challenge.contains(r#"error="invalid_token""#));
                prop_assert_eq!(seen, vec![token]);
            }
            Verdict::OtherScheme => {
                prop_assert_eq!(status, 401, "{:?}", value);
                prop_assert_eq!(challenge, r#"Bearer realm="api""#);
                prop_assert!(seen.is_empty());
            }
            Verdict::Malformed => {
                prop_assert_eq!(status, 400, "{:?}", value);
                prop_assert!(challenge.contains(r#"error="invalid_request""#));
                prop_assert!(seen.is_empty());
            }
        }
    }
}

/// `PROPTEST_CASES` runs more (or fewer) cases than the default 512.
fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
