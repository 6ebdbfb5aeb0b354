//! Every test binary that uses this module logs at TRACE, with span events,
//! into a [`Sink`] that scans each line as it is written; [`LeakCheck`]
//! fails a test when anything that must stay secret has shown up.
//!
//! "Secret" means: every value registered with [`secret`] (key values, the
//! emulator's environment secret, distinctive parts of hostile tokens sent
//! in requests), whole or as any 16-byte fragment; and, registered or not,
//! anything shaped like a keygate or emulator key value (`sk_` followed by
//! 24 or more letters, digits or `_`).
//!
//! The log is kept in memory too (so that a secret registered after it was
//! logged is still found), except in [`install_streaming`] mode, which the
//! load test uses so that the capture does not grow its memory.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use tracing_subscriber::fmt::format::FmtSpan;

/// The length of the fragments compared: a key cut in half is still a leak.
pub const FRAGMENT: usize = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that failed while holding the lock must not hide later leaks.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the capture knows: the secrets' fragments and the leaks seen so far.
#[derive(Default)]
struct Registry {
    fragments: HashSet<[u8; FRAGMENT]>,
    secrets: usize,
    leaks: Vec<String>,
}

static RETAIN: AtomicBool = AtomicBool::new(true);
static BYTES: AtomicU64 = AtomicU64::new(0);
static LINES: AtomicU64 = AtomicU64::new(0);

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn retained() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(Mutex::default)
}

fn subscriber() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(if RETAIN.load(Ordering::SeqCst) {
                FmtSpan::FULL
            } else {
                // Streaming (the load test): a span's fields at its start and
                // end, without a line for every poll.
                FmtSpan::NEW | FmtSpan::CLOSE
            })
            .with_ansi(false)
            .with_writer(|| Sink)
            .try_init()
            .expect("no other global subscriber in this test binary");
    });
}

/// Starts capturing everything, keeping the log (idempotent). Call before
/// anything logs.
pub fn install() {
    subscriber();
}

/// Starts capturing, scanning each line as it is written but keeping none,
/// with span lines at a span's start and end only (not at every poll).
pub fn install_streaming() {
    RETAIN.store(false, Ordering::SeqCst);
    subscriber();
}

/// The writer: scans, counts, and keeps (unless streaming).
#[derive(Debug)]
pub struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BYTES.fetch_add(buf.len() as u64, Ordering::Relaxed);
        LINES.fetch_add(1, Ordering::Relaxed);
        let found = {
            let registry = lock(registry());
            scan(buf, &registry.fragments)
        };
        if !found.is_empty() {
            lock(registry()).leaks.extend(found);
        }
        if RETAIN.load(Ordering::Relaxed) {
            lock(retained()).extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Registers bytes the log must never contain (16 bytes or more, so that a
/// fragment check means something). Returns them as a string for building
/// requests.
pub fn secret(value: impl AsRef<[u8]>) -> String {
    let value = value.as_ref();
    assert!(
        value.len() >= FRAGMENT,
        "register secrets of {FRAGMENT} bytes or more"
    );
    {
        let mut registry = lock(registry());
        registry.secrets += 1;
        registry.fragments.extend(fragments_of(&[value]));
    }
    String::from_utf8_lossy(value).into_owned()
}

/// The fragments `secret` registers, for checking a text without the
/// global registry (the leak check's own test).
pub fn fragments_of(secrets: &[&[u8]]) -> HashSet<[u8; FRAGMENT]> {
    let mut fragments = HashSet::new();
    for secret in secrets {
        for window in secret.windows(FRAGMENT) {
            if window.iter().all(|b| is_token_byte(*b)) {
                let mut fragment = [0; FRAGMENT];
                fragment.copy_from_slice(window);
                fragments.insert(fragment);
            }
        }
    }
    fragments
}

/// The bytes that can make up a key value (RFC 7235 token68, plus `_`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// Every leak in `text`: a registered fragment inside a run of token bytes,
/// or a key-shaped value. Described without quoting the secret.
pub fn scan(text: &[u8], fragments: &HashSet<[u8; FRAGMENT]>) -> Vec<String> {
    let mut leaks = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let run = text[at..].iter().take_while(|b| is_token_byte(**b)).count();
        if run == 0 {
            at += 1;
            continue;
        }
        let word = &text[at..at + run];
        if run >= FRAGMENT
            && word.windows(FRAGMENT).any(|w| {
                fragments.contains(<&[u8; FRAGMENT]>::try_from(w).unwrap_or(&[0; FRAGMENT]))
            })
        {
            leaks.push(format!(
                "a registered secret (or a {FRAGMENT}-byte part of one)"
            ));
        }
        if key_shaped(word) {
            leaks.push("an unregistered key-shaped value (sk_ + 24 or more characters)".into());
        }
        at += run;
    }
    leaks
}

/// Whether `word` holds `sk_` followed by 24 or more letters, digits or `_`.
pub fn key_shaped(word: &[u8]) -> bool {
    word.windows(3).enumerate().any(|(i, w)| {
        w == b"sk_"
            && word[i + 3..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count()
                >= 24
    })
}

/// The retained log so far (empty in streaming mode).
pub fn captured() -> Vec<u8> {
    lock(retained()).clone()
}

/// How much was logged: proof that the capture is live.
pub fn captured_volume() -> (u64, u64) {
    (BYTES.load(Ordering::Relaxed), LINES.load(Ordering::Relaxed))
}

/// How many secrets are registered.
pub fn registered() -> usize {
    lock(registry()).secrets
}

/// Panics if a secret was logged: any leak seen while scanning, or a
/// secret registered since that is in the retained log.
pub fn assert_no_secret_logged() {
    let log = captured();
    let (leaks, secrets) = {
        let registry = lock(registry());
        let mut leaks = registry.leaks.clone();
        leaks.extend(scan(&log, &registry.fragments));
        (leaks, registry.secrets)
    };
    let (bytes, lines) = captured_volume();
    assert!(
        leaks.is_empty(),
        "secrets in the TRACE log ({bytes} bytes, {lines} lines, {secrets} secrets registered): {leaks:#?}"
    );
}

/// Checks the log when dropped at the end of a test (unless the test is
/// already failing). Start every test with `let _leaks = LeakCheck::start();`.
#[derive(Debug)]
#[must_use = "the check runs when the guard is dropped"]
pub struct LeakCheck(());

impl LeakCheck {
    /// Installs the capture (keeping the log) and arms the check.
    pub fn start() -> Self {
        install();
        Self(())
    }
}

impl Drop for LeakCheck {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_no_secret_logged();
        }
    }
}
