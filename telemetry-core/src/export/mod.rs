//! What exporter authors need, and nothing above it: the [`Exporter`]
//! trait, the [`Batch`] it receives, the records in it (spans, log
//! records, metric data, the resource), the attribute keys the library
//! puts on records, and [`ExportError`].
//!
//! This module imports nothing from the record path: an exporter depends on
//! these types only.

mod error;
pub mod keys;
mod metric_data;
pub(crate) mod records;
mod resource;
mod signal;

use std::time::{Duration, Instant};

pub use crate::category::CategoryNames;

pub use crate::value::{AttrValue, REDACTED, TRUNCATED, Text, unix_nanos};
pub use error::{ExportError, ExportErrorKind};
pub use metric_data::{
    Exemplar, HistogramPoint, MetricData, MetricPoints, Number, NumberPoint, Temporality,
};
pub use records::{
    Attribute, Attributes, LogRecord, Record, SpanEvent, SpanRecord, SpanStatus, SubjectKey,
    TraceLink,
};
pub(crate) use records::{Severity, SpanKind};
pub use resource::{Resource, SDK_NAME, SDK_VERSION};
pub use signal::Signal;

/// One batch of consented, sampled and redacted data.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    /// The resource all records come from.
    pub resource: &'a Resource,
    /// Names of the categories, to label records.
    pub categories: &'a CategoryNames,
    /// Finished spans.
    pub spans: &'a [SpanRecord],
    /// Events and log records (including consent audit entries and deletion requests).
    pub logs: &'a [LogRecord],
    /// Metric data points.
    pub metrics: &'a [MetricData],
    deadline: Option<Instant>,
    currency: Option<&'a dyn Fn() -> bool>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("spans", &self.spans.len())
            .field("logs", &self.logs.len())
            .field("metrics", &self.metrics.len())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<'a> Batch<'a> {
    /// A batch of these records, with no deadline, that never goes stale
    /// (for exporter tests; the pipeline sets both).
    pub fn new(
        resource: &'a Resource,
        categories: &'a CategoryNames,
        spans: &'a [SpanRecord],
        logs: &'a [LogRecord],
        metrics: &'a [MetricData],
    ) -> Self {
        Batch {
            resource,
            categories,
            spans,
            logs,
            metrics,
            deadline: None,
            currency: None,
        }
    }

    /// This batch, to be delivered by `deadline`.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// This batch, current while `check` says so (see [`is_current`](Self::is_current)).
    #[must_use]
    pub fn with_currency(mut self, check: &'a dyn Fn() -> bool) -> Self {
        self.currency = Some(check);
        self
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty() && self.metrics.is_empty()
    }

    /// Number of spans and log records (metrics not counted).
    pub fn record_count(&self) -> usize {
        self.spans.len() + self.logs.len()
    }

    /// Whether the batch holds nothing of `signal`.
    pub fn is_empty_for(&self, signal: Signal) -> bool {
        match signal {
            Signal::Traces => self.spans.is_empty(),
            Signal::Logs => self.logs.is_empty(),
            Signal::Metrics => self.metrics.is_empty(),
        }
    }

    /// When delivery must be over: every wait (connect, send, answer,
    /// backoff) ends by then. `None` for a batch built outside a pipeline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The time left until the deadline (`None` without one).
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the batch may still be delivered as it is: `false` once a
    /// consent revocation concerning one of its subjects happened after it
    /// was filtered. Check it right before each delivery attempt (and
    /// before each retry); when it is `false`, return
    /// [`ExportError::stale`] and the pipeline filters the batch again and
    /// hands it back.
    pub fn is_current(&self) -> bool {
        self.currency.is_none_or(|check| check())
    }
}

/// Ships batches somewhere: a file, a collector, memory.
///
/// The contract:
/// - Methods are called from the pipeline's export worker only, one at a
///   time. Nothing else waits for them: a slow or hung exporter delays
///   only the export of later batches, never recording, consent changes,
///   or the return of `force_flush` and `shutdown` past their deadlines.
/// - Bound every wait by [`Batch::deadline`] (and the deadlines given to
///   `force_flush` and `shutdown`).
/// - Check [`Batch::is_current`] right before each delivery attempt; when
///   it is `false`, return [`ExportError::stale`] instead of sending.
/// - An error drops the batch; its records are counted with cause
///   `exporter_failure` (control records, such as deletion requests, are
///   kept and sent again in the next round). Retrying within the deadline
///   is the exporter's own business.
/// - A panic is caught and counted as a failure of the batch.
pub trait Exporter: Send + 'static {
    /// Delivers one batch.
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError>;

    /// Delivers anything the exporter buffers itself, by `deadline`.
    fn force_flush(&mut self, deadline: Instant) -> Result<(), ExportError> {
        let _ = deadline;
        Ok(())
    }

    /// Flushes and releases resources by `deadline`; called once.
    fn shutdown(&mut self, deadline: Instant) -> Result<(), ExportError> {
        self.force_flush(deadline)
    }
}

impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        (**self).export(batch)
    }
    fn force_flush(&mut self, deadline: Instant) -> Result<(), ExportError> {
        (**self).force_flush(deadline)
    }
    fn shutdown(&mut self, deadline: Instant) -> Result<(), ExportError> {
        (**self).shutdown(deadline)
    }
}
