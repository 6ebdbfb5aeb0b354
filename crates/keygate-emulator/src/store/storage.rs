//! Where the state is kept: the interface, and the memory implementation.

use std::fmt;

use super::{Changes, State};
use crate::Error;

/// Keeps the emulator's state: reads it back at start, and makes each
/// write's changed rows durable, all or nothing, before the write is answered.
///
/// Two implementations: [`MemoryStorage`] (the state lives only in the
/// process) and, with the `sqlite` feature, `SqliteStorage` (a file that
/// survives restarts and `kill -9`). One test suite (`store::tests`) runs
/// against both, reopening the store where a restart would.
pub(crate) trait Storage: fmt::Debug + Send {
    /// Fills `state` with what was kept; `false` when nothing was (a new
    /// store), so that seeds are applied once.
    fn load(&mut self, state: &mut State) -> Result<bool, Error>;

    /// Keeps `changes`, reading each changed row from `state`: all of them or
    /// none, and durably before it returns.
    fn commit(&mut self, state: &State, changes: &Changes) -> Result<(), Error>;

    /// Whether what is kept outlives the process.
    fn durable(&self) -> bool;
}

/// The state lives in the process only, as long as the emulator runs: there
/// is nothing to read back, and a commit has nothing further to write.
#[derive(Debug, Default)]
pub(crate) struct MemoryStorage;

impl Storage for MemoryStorage {
    fn load(&mut self, _state: &mut State) -> Result<bool, Error> {
        Ok(false)
    }

    fn commit(&mut self, _state: &State, _changes: &Changes) -> Result<(), Error> {
        Ok(())
    }

    fn durable(&self) -> bool {
        false
    }
}
