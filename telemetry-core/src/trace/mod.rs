//! Traces: ids, span contexts and the W3C `traceparent` format, and
//! [`Span`](crate::Span), started under the gate, entered as the current
//! span, carried across `.await`, ended into the export queue.

mod context;
mod ids;
pub(crate) mod span;

pub use context::{SpanContext, SpanDecision, TraceparentError};
pub use ids::{SpanId, TraceId, TraceIdRule};

pub(crate) use ids::{UnsampledContext, ids_from, next_random};
