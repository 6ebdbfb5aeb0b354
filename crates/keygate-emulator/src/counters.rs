//! Per-route request counters, so a test can assert how often the service
//! was called (for instance, that a cache answered instead).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

/// Requests seen, by method and route template.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    // method -> route template (or raw path for unrouted requests) -> count.
    // The common case, an already-seen route, takes only the read lock.
    by_route: RwLock<HashMap<String, HashMap<Box<str>, AtomicU64>>>,
}

impl Counters {
    pub(crate) fn hit(&self, method: &str, route: &str) {
        {
            let map = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = map.get(method).and_then(|routes| routes.get(route)) {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self
            .by_route
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(method.to_owned())
            .or_default()
            .entry(route.into())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Requests seen for `method` (case-insensitive) on `route`.
    pub(crate) fn get(&self, method: &str, route: &str) -> u64 {
        let map = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .filter(|(m, _)| m.eq_ignore_ascii_case(method))
            .filter_map(|(_, routes)| routes.get(route))
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Every count, as `(method, route, count)`, sorted.
    pub(crate) fn all(&self) -> Vec<(String, String, u64)> {
        let map = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = map
            .iter()
            .flat_map(|(m, routes)| {
                routes
                    .iter()
                    .map(|(r, c)| (m.clone(), r.to_string(), c.load(Ordering::Relaxed)))
            })
            .collect();
        all.sort();
        all
    }

    pub(crate) fn reset(&self) {
        self.by_route
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_route() {
        let c = Counters::default();
        c.hit("POST", "/api_keys/validations");
        c.hit("POST", "/api_keys/validations");
        c.hit("DELETE", "/api_keys/{id}");
        assert_eq!(c.get("post", "/api_keys/validations"), 2);
        assert_eq!(c.get("DELETE", "/api_keys/{id}"), 1);
        assert_eq!(c.get("GET", "/events"), 0);
        assert_eq!(c.all().len(), 2);
        c.reset();
        assert_eq!(c.get("POST", "/api_keys/validations"), 0);
    }
}
