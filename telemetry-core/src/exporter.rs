//! The [`Exporter`] trait and the [`Batch`] it receives.

use std::time::Duration;

use crate::category::CategoryNames;
use crate::error::ExportError;
use crate::metrics::MetricData;
use crate::record::{LogRecord, SpanRecord};
use crate::resource::Resource;

/// One batch of consented, sampled and redacted data.
#[derive(Debug, Clone, Copy)]
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
}

impl Batch<'_> {
    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty() && self.metrics.is_empty()
    }

    /// Number of spans and log records (metrics not counted).
    pub fn record_count(&self) -> usize {
        self.spans.len() + self.logs.len()
    }
}

/// Ships batches somewhere: a file, a collector, memory.
///
/// The contract:
/// - Methods are called from the pipeline's worker thread, or from a thread
///   calling `force_flush`, `shutdown` or a consent revocation; never two at
///   once for the same exporter.
/// - `export` must not block indefinitely: bound every wait by a timeout.
///   While it runs, a revocation waits for it.
/// - An error drops the batch; its records are counted with cause
///   `exporter_failure`. Retrying is the exporter's own business.
pub trait Exporter: Send + 'static {
    /// Delivers one batch.
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError>;

    /// Delivers anything the exporter buffers itself.
    fn force_flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Flushes and releases resources; called once, with the time left
    /// before the shutdown deadline.
    fn shutdown(&mut self, timeout: Duration) -> Result<(), ExportError> {
        let _ = timeout;
        self.force_flush()
    }
}

impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        (**self).export(batch)
    }
    fn force_flush(&mut self) -> Result<(), ExportError> {
        (**self).force_flush()
    }
    fn shutdown(&mut self, timeout: Duration) -> Result<(), ExportError> {
        (**self).shutdown(timeout)
    }
}
