//! Error types, one per operation: building the pipeline ([`ConfigError`]),
//! changing consent ([`ConsentError`]) and exporting ([`ExportError`]).
//!
//! Each is an opaque struct with a kind and a message that says what is wrong
//! and how to fix it, so new kinds can be added without breaking callers.

use std::fmt;

/// What kind of configuration problem a [`ConfigError`] is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A probability outside `0..=1` (or not a number).
    InvalidProbability,
    /// The service name is empty.
    EmptyServiceName,
    /// A field or store needs a hash key and none is configured.
    MissingHashKey,
    /// Key material is too short, or a key id is used twice.
    InvalidKey,
    /// A category is defined or named twice.
    DuplicateCategory,
    /// The consent policy lists a category in contradictory ways.
    ConflictingConsent,
    /// A limit, queue size or interval is out of range.
    InvalidLimit,
    /// A metric instrument is misconfigured (e.g. a hashed attribute).
    InvalidMetric,
    /// The consent store could not be read.
    ConsentStore,
    /// An exporter could not be set up.
    Exporter,
    /// A telemetry instance is already installed globally.
    AlreadyInstalled,
    /// Resource attributes (`OTEL_RESOURCE_ATTRIBUTES`) are malformed.
    InvalidResource,
    /// A `tracing` route or field rule is malformed or contradicts another.
    InvalidRoute,
    /// Two instrumented functions share a name (so their spans and metrics
    /// would be mixed up).
    DuplicateName,
    /// An integration is set up incompletely or inconsistently (a privacy
    /// center without an identity hook, a client event with a field type
    /// browsers cannot send, a malformed base path).
    InvalidIntegration,
}

/// An invalid configuration, reported when the pipeline or an instrument is
/// built. The message names the problem and the fix.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: String,
}

impl ConfigError {
    /// A new error of `kind` with a message that says what is wrong and how to fix it.
    pub fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        ConfigError {
            kind,
            message: message.into(),
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The message, without the "invalid telemetry configuration" prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid telemetry configuration: {}", self.message)
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigError({:?}: {})", self.kind, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A consent change that could not be persisted or loaded.
///
/// A revocation always takes effect in memory, even when persisting it
/// fails; a grant that cannot be persisted does not take effect.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsentError {
    message: String,
}

impl ConsentError {
    /// A new error with a message naming the store and the cause.
    pub fn new(message: impl Into<String>) -> Self {
        ConsentError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConsentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "consent store error: {}", self.message)
    }
}

impl fmt::Debug for ConsentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConsentError({})", self.message)
    }
}

impl std::error::Error for ConsentError {}
