//! [`ExportError`]: what an exporter reports when it could not deliver (a
//! batch, or part of it).

use std::fmt;

use super::Signal;

/// What kind of export failure an [`ExportError`] is; it becomes the drop
/// cause the records are counted under.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportErrorKind {
    /// The destination could not be reached or refused the data.
    Unavailable,
    /// The destination ran out of space (e.g. a full disk).
    NoSpace,
    /// The data could not be encoded.
    Encoding,
    /// The deadline passed.
    Timeout,
    /// A consent revocation made the batch stale before it was sent (see
    /// `Batch::is_current`): the pipeline filters it again and retries.
    Stale,
    /// Anything else.
    Other,
}

/// An exporter failed to deliver a batch (or part of it). What failed is
/// dropped and counted with cause `exporter_failure`.
#[derive(Clone, PartialEq, Eq)]
pub struct ExportError {
    kind: ExportErrorKind,
    message: String,
    failed: [bool; 3],
}

impl ExportError {
    /// A new error: the whole batch failed.
    pub fn new(kind: ExportErrorKind, message: impl Into<String>) -> Self {
        ExportError {
            kind,
            message: message.into(),
            failed: [true; 3],
        }
    }

    /// The error an exporter returns when [`Batch::is_current`](crate::export::Batch::is_current)
    /// turned `false`: nothing was sent, the pipeline filters the batch
    /// again and hands it back.
    pub fn stale() -> Self {
        ExportError::new(
            ExportErrorKind::Stale,
            "a consent revocation made the batch stale before it was sent",
        )
    }

    /// Narrows the failure to the signals of the batch that were not
    /// delivered (the others were), so only those are counted as dropped.
    #[must_use]
    pub fn only(mut self, failed: impl IntoIterator<Item = Signal>) -> Self {
        self.failed = [false; 3];
        for signal in failed {
            self.failed[signal.index()] = true;
        }
        self
    }

    /// Whether the part of the batch of `signal` failed.
    pub fn failed(&self, signal: Signal) -> bool {
        self.failed[signal.index()]
    }

    /// The kind of failure.
    pub fn kind(&self) -> ExportErrorKind {
        self.kind
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "export failed ({:?}): {}", self.kind, self.message)
    }
}

impl fmt::Debug for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExportError({:?}: {})", self.kind, self.message)
    }
}

impl std::error::Error for ExportError {}
