//! End-to-end tests: an axum app with `ApiKeyAuth` and guards, over real
//! sockets, validating through `keygate_client::Client` against the running
//! emulator. One binary, so that one tracing capture covers the whole suite.

mod cache;
mod fault_matrix;
mod flood;
mod listener;
mod membership;
mod outage;
mod responses;
mod revocation;
mod support;
mod webhook_attacks;
