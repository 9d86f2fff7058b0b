//! Typed events: the [`TelemetryEvent`](crate::TelemetryEvent) trait, its static [`EventSchema`],
//! and the allocation-free [`FieldVisitor`] protocol.

pub(crate) mod builder;
pub(crate) mod schema;

pub use schema::{EventSchema, FieldSchema, FieldVisitor};
