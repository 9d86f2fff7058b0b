//! Where consent choices live between restarts: the [`ConsentStore`] trait,
//! an in-memory store and a file-backed store with atomic replace.
//!
//! Which to use: [`MemoryConsentStore`] (the default) forgets every choice
//! at restart; [`FileConsentStore`] keeps them for **one** process (it
//! locks its file, so a second process gets a clear error instead of
//! silently overwriting choices); several replicas of a service need a
//! shared store such as the PostgreSQL one in `telemetry-consent-postgres`.
//!
//! Here: the trait and the memory store. The file store is in [`file`], its
//! file format in [`format`], and the lock that keeps its file to one
//! process (with the owner-only creation of its files) in [`lock`].

mod file;
mod format;
mod lock;

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::error::ConsentError;
use crate::subject::{Choices, SubjectKey};

pub use file::FileConsentStore;
pub(crate) use format::parse;

/// Persists consent choices, keyed by pseudonymous subject key.
///
/// `load` is called once when the pipeline is built; `save` on every change,
/// from the thread that changes consent (never from the hot path). A store
/// that cannot be read must return an error, never an empty result: a
/// corrupt store is not a reason to grant or forget anything.
pub trait ConsentStore: Send + Sync + 'static {
    /// Every stored subject and its choices.
    fn load(&self) -> Result<Vec<(SubjectKey, Choices)>, ConsentError>;
    /// Stores (replaces) the choices of one subject.
    fn save(&self, subject: SubjectKey, choices: Choices) -> Result<(), ConsentError>;
    /// Whether choices survive a restart; such a store needs a stable
    /// subject key (a configured hash key) to find its subjects again.
    fn is_persistent(&self) -> bool {
        false
    }
}

/// A store that keeps choices in memory only (the default).
#[derive(Debug, Default)]
pub struct MemoryConsentStore {
    map: Mutex<BTreeMap<SubjectKey, Choices>>,
}

impl MemoryConsentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ConsentStore for MemoryConsentStore {
    fn load(&self) -> Result<Vec<(SubjectKey, Choices)>, ConsentError> {
        let map = self
            .map
            .lock()
            .map_err(|_| ConsentError::new("memory store lock poisoned"))?;
        Ok(map.iter().map(|(k, c)| (*k, *c)).collect())
    }

    fn save(&self, subject: SubjectKey, choices: Choices) -> Result<(), ConsentError> {
        let mut map = self
            .map
            .lock()
            .map_err(|_| ConsentError::new("memory store lock poisoned"))?;
        map.insert(subject, choices);
        Ok(())
    }
}
