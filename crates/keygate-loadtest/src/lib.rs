//! keygate's load test: what keygate costs a real server, over real sockets.
//!
//! - [`servers`]: the servers under test, on loopback: an axum app with five
//!   front doors to one handler (none, keygate on an API key, tower-http's
//!   static bearer, an HS256 JWT, keygate on an AuthKit session token), the
//!   key-service emulator, and a hello-world axum route.
//! - [`drive`]: a small HTTP/1.1 load generator: keep-alive connections in a
//!   closed loop, a warm-up, then a measured period; requests/s and latency
//!   percentiles ([`Latencies`]).
//! - [`compare`]: several loads run in rotation over several rounds, same
//!   connections and duration, as a Markdown table.
//! - `grpc` (feature `tonic`): a tonic unary call through keygate against
//!   the same call without auth, side by side.
//! - [`memory`]: resident memory per cached principal; [`cpu`]: the server
//!   process's CPU time, so that a run on a busy machine still tells what a
//!   request costs the server.
//!
//! The `keygate-loadtest` binary runs them (`keygate-loadtest http`,
//! `keygate-loadtest memory`); `scripts/bench` at the repository root runs
//! everything, and `docs/BENCHMARKS.md` explains the figures.
//!
//! ```
//! use std::time::Duration;
//! use keygate_loadtest::drive::{Load, run};
//! use keygate_loadtest::servers::{self, Credentials, PUBLIC_PATH};
//! use keygate_loadtest::wire::Request;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let servers = servers::start(&Credentials::generate()).await?;
//! let load = Load {
//!     addr: servers.app,
//!     request: Request::get(PUBLIC_PATH).encode(&servers.app.to_string()),
//!     connections: 2,
//!     warmup: Duration::from_millis(20),
//!     duration: Duration::from_millis(100),
//! };
//! let measured = run(&load).await?;
//! assert!(measured.ok > 0 && measured.failed == 0);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod compare;
pub mod cpu;
pub mod drive;
#[cfg(feature = "tonic")]
pub mod grpc;
mod latency;
pub mod memory;
pub mod servers;
pub mod wire;

pub use latency::Latencies;
