//! What keygate's own test suites share (not published): [`trace_capture`],
//! a TRACE log capture that fails a test when a secret shows up in it, and
//! [`redis_server`], a real `redis-server` on a free loopback port (plain or
//! TLS only), and [`certificates`], a CA and certificates made at run time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod certificates;
pub mod redis_server;
pub mod trace_capture;
