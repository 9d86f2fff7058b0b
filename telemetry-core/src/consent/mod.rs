//! Consent per data subject and per category: the policy, the one gate every
//! record passes, the registry of subjects' choices, grants and revocations
//! (with purge and deletion requests), the store, the audit trail and the
//! identifier-free counts.

pub(crate) mod audit;
pub(crate) mod coverage;
pub(crate) mod fleet;
pub(crate) mod gate;
mod handle;
mod own_metrics;
pub(crate) mod policy;
mod records;
pub(crate) mod registry;
pub mod shared;
pub(crate) mod store;
pub(crate) mod view;

pub use crate::subject::Choices;
pub use audit::{ConsentChange, ConsentSource};
pub use coverage::CoverageSnapshot;
pub use handle::Consent;
pub use policy::{ConsentDefault, ConsentState};
pub use shared::{ChangeId, ChangeReceipt, FleetAck, Freshness, SharedConsentStore, StoredChange};
pub use store::{ConsentStore, FileConsentStore, MemoryConsentStore};

pub(crate) use registry::{ConsentRegistry, RegistrySettings, StoreSettings};

/// Event name of an exported consent audit entry.
pub const CONSENT_CHANGED_EVENT: &str = "telemetry.consent.changed";
/// Event name of an exported deletion request.
pub const DELETION_REQUEST_EVENT: &str = "telemetry.consent.deletion_request";
