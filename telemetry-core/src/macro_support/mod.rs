//! What the code `telemetry-macros` generates calls. Generated code names
//! only `::telemetry_core::__private::*`, which re-exports this module and
//! the schema types; nothing here is a public API, and it changes without
//! notice.
//!
//! - [`call`]: the call of an instrumented function, from the gate at entry
//!   to the metrics at the end.
//! - [`outcome`]: how a call ended and what it returned.
//! - [`mirror`]: the plain `tracing` span for other layers (feature
//!   `tracing`).

mod call;
mod mirror;
mod outcome;

pub use inventory;

/// The mirror span macro, reached through `__private` like everything else
/// generated code names.
pub use crate::__telemetry_mirror_span as mirror_span;
pub use crate::catalogue::{CatalogueItem, FunctionSchema, Objective, SourceLocation};
pub use crate::category::Category;
pub use crate::event::schema::{EventSchema, FieldSchema, FieldVisitor, TelemetryEvent};
pub use crate::privacy::FieldClass;
pub use crate::value::{FieldType, TelemetryValue, Value};
pub(crate) use call::report_calls_without_instance;
pub use call::{Call, CallEntered, Callsite};
pub use mirror::*;
pub use outcome::*;

/// Whether `telemetry` is the installed instance as a macro call's fast
/// path finds it: through the pointer [`install`](crate::TelemetryBuilder::install)
/// sets, not the slower lookup a call falls back to (for the macros'
/// tests).
pub fn found_installed(telemetry: &crate::Telemetry) -> bool {
    crate::Telemetry::installed_inner()
        .is_some_and(|i| std::ptr::eq(i, std::sync::Arc::as_ptr(&telemetry.inner)))
}

/// Hands back the body closure of an instrumented function unchanged. The
/// closure is an argument here, so the compiler infers it as `FnOnce` from
/// this bound rather than `FnMut` from its body; a body that returns a
/// reborrow of a captured `&mut` argument (`fn title_mut(&mut self) -> &mut
/// String`) then compiles.
#[inline(always)]
pub fn once<R, F: FnOnce() -> R>(body: F) -> F {
    body
}
