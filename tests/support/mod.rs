//! What the root end-to-end tests share: a TRACE capture that proves no
//! secret is logged, a raw HTTP/1.1 client for bytes no HTTP library will
//! send, an app behind the layer on a real socket, and a snapshot of the
//! emulator's whole observable state.

// Each test binary compiles this module and uses only a part of it.
#![allow(dead_code)]

pub mod app;
pub mod chromium;
pub mod raw_http;
pub mod store_snapshot;
pub use keygate_test_support::trace_capture;
