//! Fault injection: make chosen requests fail, or slow down, on purpose.
//!
//! A fault matches a method and a path, either the route template
//! (`/api_keys/{id}`) or the concrete path (`/api_keys/api_key_01…`). Faults
//! are tried in the order they were added; the first that matches serves the
//! request and counts down its `times`. Control routes under `/_emulator/` are
//! never faulted, so a test can always clear what it injected.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a faulted request is answered with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FaultBody {
    /// A text body, sent as `text/plain`. On the wire, a JSON string.
    Text(String),
    /// A JSON body, sent as `application/json`. On the wire, any other JSON value.
    Json(Value),
}

impl From<Value> for FaultBody {
    fn from(value: Value) -> Self {
        FaultBody::Json(value)
    }
}

impl From<String> for FaultBody {
    fn from(value: String) -> Self {
        FaultBody::Text(value)
    }
}

impl From<&str> for FaultBody {
    fn from(value: &str) -> Self {
        FaultBody::Text(value.to_owned())
    }
}

/// A planned failure for requests matching a method and a path.
///
/// By default it answers `500` with a JSON error body, until cleared.
///
/// ```
/// use std::time::Duration;
/// use keygate_emulator::Fault;
///
/// // The next two validations fail with 503, after half a second each.
/// let fault = Fault::new("POST", "/api_keys/validations")
///     .status(503)
///     .delay(Duration::from_millis(500))
///     .times(2);
/// // Slow every key deletion down, then serve it normally.
/// let slow = Fault::new("DELETE", "/api_keys/{id}")
///     .delay(Duration::from_secs(1))
///     .pass_through();
/// # let _ = (fault, slow);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// The HTTP method, case-insensitive; `*` matches any.
    pub method: String,
    /// The route template or concrete path.
    pub path: String,
    /// The status to answer with; `None` serves the request normally after
    /// the delay.
    #[serde(default = "default_status")]
    pub status: Option<u16>,
    /// The body to answer with; a JSON error body when `None`.
    #[serde(default)]
    pub body: Option<FaultBody>,
    /// How long to wait before answering, in milliseconds on the wire.
    #[serde(default, rename = "delay_ms", with = "millis")]
    pub delay: Option<Duration>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// How many requests to fault; `None` means until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

#[allow(clippy::unnecessary_wraps)] // serde's `default` needs the exact type.
fn default_status() -> Option<u16> {
    Some(500)
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

impl Fault {
    /// A fault for `method` (`*` for any) on `path`: answers `500` until cleared.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            status: Some(500),
            body: None,
            delay: None,
            headers: Vec::new(),
            times: None,
        }
    }

    /// Answers with this status. A `429` without a `Retry-After` header gets
    /// `Retry-After: 1`.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Answers with this body: JSON (`serde_json::Value`) or text (`&str`, `String`).
    pub fn body(mut self, body: impl Into<FaultBody>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Faults this many requests (`Some(n)` or `n`), or until cleared (`None`).
    pub fn times(mut self, times: impl Into<Option<u32>>) -> Self {
        self.times = times.into();
        self
    }

    /// Serves matching requests normally after the delay, instead of failing them.
    pub fn pass_through(mut self) -> Self {
        self.status = None;
        self
    }

    fn matches(&self, method: &str, template: Option<&str>, path: &str) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && (self.path == path || template.is_some_and(|t| t == self.path))
    }
}

/// The faults in force.
#[derive(Debug, Default)]
pub(crate) struct FaultSet {
    faults: Mutex<Vec<Fault>>,
    // Read before taking the lock, so requests pay nothing when no fault is set.
    count: AtomicUsize,
}

impl FaultSet {
    pub(crate) fn inject(&self, fault: Fault) {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        if fault.times != Some(0) {
            faults.push(fault);
        }
        self.count.store(faults.len(), Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        faults.clear();
        self.count.store(0, Ordering::Release);
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The fault that takes this request, if any, counting it down.
    pub(crate) fn take(&self, method: &str, template: Option<&str>, path: &str) -> Option<Fault> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let i = faults
            .iter()
            .position(|f| f.matches(method, template, path))?;
        let fault = faults[i].clone();
        if let Some(times) = &mut faults[i].times {
            *times -= 1;
            if *times == 0 {
                faults.remove(i);
            }
        }
        self.count.store(faults.len(), Ordering::Release);
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_and_matches_template_or_path() {
        let set = FaultSet::default();
        set.inject(Fault::new("post", "/api_keys/{id}/expire").times(2));
        assert!(
            set.take("GET", Some("/api_keys/{id}/expire"), "/api_keys/x/expire")
                .is_none()
        );
        assert!(
            set.take("POST", Some("/api_keys/{id}/expire"), "/api_keys/x/expire")
                .is_some()
        );
        assert!(set.take("POST", None, "/api_keys/{id}/expire").is_some());
        assert!(
            set.take("POST", Some("/api_keys/{id}/expire"), "/x")
                .is_none()
        );
        set.inject(Fault::new("*", "/events"));
        for _ in 0..5 {
            assert!(set.take("GET", Some("/events"), "/events").is_some());
        }
        set.clear();
        assert!(set.take("GET", Some("/events"), "/events").is_none());
    }

    #[test]
    fn wire_form_round_trips() {
        let f = Fault::new("POST", "/x")
            .status(429)
            .body(serde_json::json!({"code": "rate_limited"}))
            .delay(Duration::from_millis(250))
            .header("Retry-After", "7")
            .times(1);
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["delay_ms"], 250);
        assert_eq!(serde_json::from_value::<Fault>(json).unwrap(), f);
        let minimal: Fault = serde_json::from_str(r#"{"method":"GET","path":"/events"}"#).unwrap();
        assert_eq!(minimal, Fault::new("GET", "/events"));
    }
}
