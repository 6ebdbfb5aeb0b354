//! Several loads run in turn, several rounds, same connections and duration.
//! The order rotates every round (A B C, B C A, C A B, …) so that a drift in
//! the machine's speed favours no side.

use std::fmt::Write as _;
use std::time::Duration;

use crate::drive::{DriveError, Load, Run, run};

fn cpu_cell(micros: Option<f64>) -> String {
    micros
        .filter(|m| m.is_finite())
        .map_or("-".to_owned(), |m| format!("{m:.1}"))
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub struct Side {
    /// What it is, for the table.
    pub label: String,
    /// What to run.
    pub load: Load,
}

/// The figures of one side over all rounds.
#[derive(Debug, Clone)]
pub struct Tally {
    /// What it is.
    pub label: String,
    /// Each round's run.
    pub runs: Vec<Run>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn micros(duration: Option<Duration>) -> f64 {
    duration.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

impl Tally {
    /// The median over rounds of requests per second.
    pub fn requests_per_second(&self) -> f64 {
        median(self.runs.iter().map(Run::requests_per_second).collect())
    }

    /// The median over rounds of the `p`th latency percentile, in µs.
    pub fn percentile_micros(&self, p: f64) -> f64 {
        median(
            self.runs
                .iter()
                .map(|run| micros(run.latencies.percentile(p)))
                .collect(),
        )
    }

    /// The median over rounds of the server's CPU µs per request (NaN when
    /// not probed).
    pub fn server_cpu_micros(&self) -> f64 {
        median(
            self.runs
                .iter()
                .map(|run| run.server_cpu_micros_per_request().unwrap_or(f64::NAN))
                .collect(),
        )
    }

    /// Non-200 answers over all rounds.
    pub fn failed(&self) -> u64 {
        self.runs.iter().map(|run| run.failed).sum()
    }
}

/// Runs `load`, noting the server's CPU time around it when `server_cpu`
/// can tell.
async fn probed_run(
    load: &Load,
    server_cpu: &dyn Fn() -> Option<Duration>,
) -> Result<Run, DriveError> {
    let before = server_cpu();
    let mut measured = run(load).await?;
    measured.server_cpu = before.zip(server_cpu()).map(|(b, a)| a.saturating_sub(b));
    Ok(measured)
}

/// Runs every side once per round for `rounds` rounds, the order rotating
/// each round; `server_cpu` reads the server process's CPU time (return
/// `None` when it cannot be read).
pub async fn rotate(
    sides: &[Side],
    rounds: usize,
    server_cpu: &dyn Fn() -> Option<Duration>,
) -> Result<Vec<Tally>, DriveError> {
    let mut tallies: Vec<Tally> = sides
        .iter()
        .map(|side| Tally {
            label: side.label.clone(),
            runs: Vec::new(),
        })
        .collect();
    for round in 0..rounds {
        for k in 0..sides.len() {
            let n = (round + k) % sides.len();
            tallies[n]
                .runs
                .push(probed_run(&sides[n].load, server_cpu).await?);
        }
    }
    Ok(tallies)
}

/// A Markdown table of each round and the medians.
pub fn table(tallies: &[&Tally]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| route | round | requests/s | p50 µs | p99 µs | server CPU µs/request | non-200 |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for tally in tallies {
        for (round, run) in tally.runs.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {:.0} | {} | {} |",
                tally.label,
                round + 1,
                run.requests_per_second(),
                micros(run.latencies.percentile(50.0)),
                micros(run.latencies.percentile(99.0)),
                cpu_cell(run.server_cpu_micros_per_request()),
                run.failed
            );
        }
        let _ = writeln!(
            out,
            "| **{}** | **median** | **{:.0}** | **{:.0}** | **{:.0}** | **{}** | {} |",
            tally.label,
            tally.requests_per_second(),
            tally.percentile_micros(50.0),
            tally.percentile_micros(99.0),
            cpu_cell(Some(tally.server_cpu_micros())),
            tally.failed()
        );
    }
    out
}

/// `subject`'s requests/s as a share of `reference`'s, and its p99 over
/// `reference`'s.
pub fn ratios(subject: &Tally, reference: &Tally) -> (f64, f64) {
    (
        subject.requests_per_second() / reference.requests_per_second(),
        subject.percentile_micros(99.0) / reference.percentile_micros(99.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
