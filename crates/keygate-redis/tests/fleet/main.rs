//! Fleet mode end to end: replicas as separate layers, each with its own
//! cache, its own Redis connections and its own HTTP server, in front of
//! one emulator and one real `redis-server` on a free loopback port.

mod budget;
mod cluster;
mod faults;
mod invariants;
mod lease;
mod processes;
mod regressions;
mod revocation;
mod sessions;
mod support;
