//! The load generator: a fixed number of keep-alive connections, each
//! sending the same request as soon as the previous answer arrives (a closed
//! loop), for a warm-up and then a measured period.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::Latencies;
use crate::wire::{WireError, frame_response};

/// What to send, where, how hard and for how long.
#[derive(Debug, Clone)]
pub struct Load {
    /// The server's address (loopback).
    pub addr: SocketAddr,
    /// The encoded request (see [`wire::Request::encode`](crate::wire::Request::encode)).
    pub request: Bytes,
    /// Concurrent connections, each with one request in flight.
    pub connections: usize,
    /// Sent but not measured: fills caches and connection pools first.
    pub warmup: Duration,
    /// The measured period.
    pub duration: Duration,
}

/// What a run measured (after its warm-up).
#[derive(Debug, Clone)]
pub struct Run {
    /// Requests answered `200` in the measured period.
    pub ok: u64,
    /// Requests answered with any other status in the measured period.
    pub failed: u64,
    /// The measured period.
    pub elapsed: Duration,
    /// The latency of each `200` answer.
    pub latencies: Latencies,
    /// Every answer, warm-up included: what the server did in the run.
    pub answered: u64,
    /// The server process's CPU time during the whole run (warm-up
    /// included), when a probe was given to [`compare::rotate`](crate::compare::rotate).
    pub server_cpu: Option<Duration>,
}

impl Run {
    /// `200` answers per second.
    pub fn requests_per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The server's CPU time per answer, in µs, if it was probed: unlike
    /// requests/s, it does not depend on how much of the machine the server
    /// got while other processes ran.
    pub fn server_cpu_micros_per_request(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.answered > 0).then(|| cpu.as_secs_f64() * 1e6 / self.answered as f64)
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// A connection could not be made or broke.
    #[error("connection to {addr}: {source}")]
    Io {
        /// The server.
        addr: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The server answered something that is not a framed HTTP/1.1 response.
    #[error("response from {addr}: {source}")]
    Wire {
        /// The server.
        addr: SocketAddr,
        /// What was wrong.
        source: WireError,
    },
    /// The server closed a keep-alive connection.
    #[error("{addr} closed the connection")]
    Closed {
        /// The server.
        addr: SocketAddr,
    },
}

/// One connection's share of a run.
#[derive(Default)]
struct Share {
    answered: u64,
    ok: u64,
    failed: u64,
    latencies: Vec<Duration>,
}

/// Runs `load` on the current tokio runtime and gathers every connection's
/// figures. Stops by itself after `warmup + duration`.
pub async fn run(load: &Load) -> Result<Run, DriveError> {
    let started = Instant::now();
    let measure_from = started + load.warmup;
    let stop_at = measure_from + load.duration;
    let mut connections = JoinSet::new();
    for _ in 0..load.connections.max(1) {
        connections.spawn(connection(
            load.addr,
            load.request.clone(),
            measure_from,
            stop_at,
        ));
    }
    let mut answered = 0;
    let mut ok = 0;
    let mut failed = 0;
    let mut latencies = Vec::new();
    while let Some(joined) = connections.join_next().await {
        // A panicking connection task is a bug in this crate: surface it.
        let share = joined.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))?;
        answered += share.answered;
        ok += share.ok;
        failed += share.failed;
        latencies.extend(share.latencies);
    }
    Ok(Run {
        ok,
        failed,
        elapsed: load.duration,
        latencies: Latencies::new(latencies),
        answered,
        server_cpu: None,
    })
}

async fn connection(
    addr: SocketAddr,
    request: Bytes,
    measure_from: Instant,
    stop_at: Instant,
) -> Result<Share, DriveError> {
    let io = |source| DriveError::Io { addr, source };
    let mut stream = TcpStream::connect(addr).await.map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut share = Share::default();
    loop {
        let sent = Instant::now();
        if sent >= stop_at {
            return Ok(share);
        }
        stream.write_all(&request).await.map_err(io)?;
        let frame = loop {
            match frame_response(&buf) {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(source) => return Err(DriveError::Wire { addr, source }),
            }
            if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
                return Err(DriveError::Closed { addr });
            }
        };
        buf.advance(frame.len);
        share.answered += 1;
        if sent < measure_from {
            continue;
        }
        if frame.status == 200 {
            share.ok += 1;
            share.latencies.push(sent.elapsed());
        } else {
            share.failed += 1;
        }
    }
}
