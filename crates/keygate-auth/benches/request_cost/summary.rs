//! The closing table: per-request cost of each bench run in this invocation,
//! the cost added over (a), and the targets, met or missed.
//!
//! Each bench's figure is the least-squares slope of its samples (time
//! against iterations, through the origin), the estimate criterion itself
//! headlines for linear sampling; recorded here so the table needs no files.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The samples of every bench that ran.
#[derive(Default)]
pub struct Registry {
    samples: Mutex<BTreeMap<String, Vec<(u64, Duration)>>>,
}

impl Registry {
    /// Notes one sample of bench `id`; returns `elapsed` for criterion.
    pub fn record(&self, id: &str, elapsed: Duration, iters: u64) -> Duration {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.to_owned())
            .or_default()
            .push((iters, elapsed));
        elapsed
    }

    /// Nanoseconds per request of each bench.
    fn estimates(&self) -> BTreeMap<String, f64> {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples
            .iter()
            .map(|(id, samples)| {
                let (xy, xx) = samples.iter().fold((0.0, 0.0), |(xy, xx), (n, t)| {
                    let n = *n as f64;
                    (xy + n * t.as_nanos() as f64, xx + n * n)
                });
                (id.clone(), xy / xx)
            })
            .collect()
    }
}

/// What each bench is, for the table.
fn label(id: &str) -> String {
    let described = match id {
        "a_no_auth" => "(a) no authentication",
        "b_keygate_hit_unguarded" => "(b) keygate hit, no guard, 1 key",
        "b_keygate_hit_guarded_traced/1000" => "(b) keygate hit + guard, 1000 keys, INFO tracing",
        "g_keygate_hit_guarded_recorded/1000" => {
            "(g) keygate hit + guard, 1000 keys, Prometheus recorder"
        }
        "d_jwt/HS256" => "(d) JWT HS256 (jsonwebtoken)",
        "d_jwt/RS256" => "(d) JWT RS256 (jsonwebtoken)",
        "e_tower_http_bearer" => "(e) tower-http static bearer",
        "h_keygate_hit_guarded_usage/1000" => "(h) keygate hit + guard + usage meter, 1000 keys",
        _ => "",
    };
    if !described.is_empty() {
        return described.to_owned();
    }
    if let Some(keys) = id.strip_prefix("b_keygate_hit_guarded/") {
        return format!("(b) keygate hit + guard, {keys} keys");
    }
    if let Some(keys) = id.strip_prefix("c_floor/") {
        return format!("(c) floor, {keys} keys");
    }
    id.to_owned()
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

/// Prints the table and the targets it can judge.
pub fn print(registry: &Registry) {
    let estimates = registry.estimates();
    if estimates.is_empty() {
        return;
    }
    let base = estimates.get("a_no_auth").copied();
    println!();
    println!("request cost (least-squares slope per request; added = minus (a))");
    println!("{:<40} {:>12} {:>12}", "bench", "per request", "added");
    for (id, ns) in &estimates {
        let added = base.map_or("-".to_owned(), |base| format!("{:.0} ns", ns - base));
        println!("{:<40} {:>9.0} ns {:>12}", label(id), ns, added);
    }
    let Some(base) = base else {
        println!("(run (a) too for the added costs and the targets)");
        return;
    };
    let added = |id: &str| estimates.get(id).map(|ns| ns - base);

    println!();
    println!("targets");
    for (keys, bound) in [("1000", 1.5), ("100000", 2.0)] {
        if let (Some(keygate), Some(floor)) = (
            added(&format!("b_keygate_hit_guarded/{keys}")),
            added(&format!("c_floor/{keys}")),
        ) {
            let ratio = keygate / floor;
            println!(
                "  {keys:>6} keys: keygate adds {keygate:.0} ns, the floor {floor:.0} ns: \
                 {ratio:.2}x (target <= {bound}x) {}",
                verdict(ratio <= bound)
            );
        }
    }
    if let (Some(counted), Some(plain)) = (
        estimates.get("h_keygate_hit_guarded_usage/1000"),
        estimates.get("b_keygate_hit_guarded/1000"),
    ) {
        let cost = counted - plain;
        println!(
            "    1000 keys: a usage meter adds {cost:.0} ns to a hit (target <= 50 ns) {}",
            verdict(cost <= 50.0)
        );
    }
    for keys in ["1", "1000", "100000"] {
        let Some(keygate) = added(&format!("b_keygate_hit_guarded/{keys}")) else {
            continue;
        };
        for (jwt, bound) in [("HS256", 3.0), ("RS256", 30.0)] {
            if let Some(cost) = added(&format!("d_jwt/{jwt}")) {
                let ratio = cost / keygate;
                println!(
                    "  {keys:>6} keys: {jwt} adds {cost:.0} ns, {ratio:.1}x keygate's {keygate:.0} ns \
                     (target >= {bound}x) {}",
                    verdict(ratio >= bound)
                );
            }
        }
    }
}
