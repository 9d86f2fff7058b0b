//! In-memory parts for tests (cargo feature `testing`): an exporter that
//! keeps what it is given, and a shared consent store several telemetry
//! instances in one process can share.

mod shared_store;

pub use shared_store::{AuditRow, SharedMemoryStore};

use std::sync::{Arc, Mutex, MutexGuard};

use crate::export::Resource;
use crate::export::{Batch, Exporter};
use crate::export::{ExportError, ExportErrorKind};
use crate::export::{HistogramPoint, MetricData, MetricPoints, Number};
use crate::export::{LogRecord, SpanRecord};

#[derive(Default)]
struct Store {
    spans: Vec<SpanRecord>,
    logs: Vec<LogRecord>,
    metrics: Vec<MetricData>,
    resource: Option<Resource>,
    batches: usize,
    fail: bool,
    shut_down: bool,
}

/// Keeps everything exported in memory. Clones share the same storage:
/// give one clone to the builder and read through another.
#[derive(Clone, Default)]
pub struct InMemoryExporter {
    store: Arc<Mutex<Store>>,
}

impl std::fmt::Debug for InMemoryExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("InMemoryExporter")
            .field("spans", &s.spans.len())
            .field("logs", &s.logs.len())
            .field("metrics", &s.metrics.len())
            .finish()
    }
}

impl InMemoryExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spans exported so far.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.lock().spans.clone()
    }

    /// Log records (events, audit entries, deletion requests) exported so far.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.lock().logs.clone()
    }

    /// Log records with this event name.
    pub fn events_named(&self, name: &str) -> Vec<LogRecord> {
        self.lock()
            .logs
            .iter()
            .filter(|l| l.event_name == name)
            .cloned()
            .collect()
    }

    /// Every metric export so far, in order.
    pub fn metrics(&self) -> Vec<MetricData> {
        self.lock().metrics.clone()
    }

    /// The most recent export of the metric `name`.
    pub fn last_metric(&self, name: &str) -> Option<MetricData> {
        self.lock()
            .metrics
            .iter()
            .rev()
            .find(|m| m.name == name)
            .cloned()
    }

    /// The latest integer value of the sum `name` for the series whose
    /// attributes include all of `attrs` (rendered as strings). A family
    /// recorded in several categories (like `function.calls`) is searched
    /// in all of them.
    pub fn sum_value(&self, name: &str, attrs: &[(&str, &str)]) -> Option<i64> {
        self.latest(name, |points| match points {
            MetricPoints::Sum { points, .. } => points
                .iter()
                .find(|p| has_all(&p.attributes, attrs))
                .and_then(|p| match p.value {
                    Number::I64(v) => Some(v),
                    Number::F64(_) => None,
                }),
            _ => None,
        })
    }

    /// The latest point of the histogram `name` for the series whose
    /// attributes include all of `attrs`.
    pub fn histogram_point(&self, name: &str, attrs: &[(&str, &str)]) -> Option<HistogramPoint> {
        self.latest(name, |points| match points {
            MetricPoints::Histogram { points, .. } => points
                .iter()
                .find(|p| has_all(&p.attributes, attrs))
                .cloned(),
            _ => None,
        })
    }

    /// What `find` finds in the most recent export of metric `name` that
    /// has it (every category's part of a family is searched).
    fn latest<T>(&self, name: &str, find: impl Fn(&MetricPoints) -> Option<T>) -> Option<T> {
        let s = self.lock();
        s.metrics
            .iter()
            .rev()
            .filter(|m| m.name == name)
            .find_map(|m| find(&m.points))
    }

    /// The resource of the last batch.
    pub fn resource(&self) -> Option<Resource> {
        self.lock().resource.clone()
    }

    /// Number of batches exported.
    pub fn batches(&self) -> usize {
        self.lock().batches
    }

    /// Makes every export fail (to test failure counting) until set back.
    pub fn set_failing(&self, fail: bool) {
        self.lock().fail = fail;
    }

    /// Whether the exporter was shut down.
    pub fn is_shut_down(&self) -> bool {
        self.lock().shut_down
    }

    /// Everything exported, as JSON lines (one per record), to search the
    /// exported bytes in tests.
    pub fn exported_json(&self) -> String {
        let s = self.lock();
        let mut out = String::new();
        for span in &s.spans {
            out.push_str(&serde_json::to_string(span).unwrap_or_default());
            out.push('\n');
        }
        for log in &s.logs {
            out.push_str(&serde_json::to_string(log).unwrap_or_default());
            out.push('\n');
        }
        for m in &s.metrics {
            out.push_str(&serde_json::to_string(m).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// Forgets everything exported so far.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.spans.clear();
        s.logs.clear();
        s.metrics.clear();
    }
}

impl Exporter for InMemoryExporter {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let mut s = self.lock();
        if s.fail {
            return Err(ExportError::new(
                ExportErrorKind::Unavailable,
                "in-memory exporter set to fail",
            ));
        }
        if !batch.is_current() {
            return Err(ExportError::stale());
        }
        s.batches += 1;
        s.resource = Some(batch.resource.clone());
        s.spans.extend_from_slice(batch.spans);
        s.logs.extend_from_slice(batch.logs);
        s.metrics.extend_from_slice(batch.metrics);
        Ok(())
    }

    fn shutdown(&mut self, _deadline: std::time::Instant) -> Result<(), ExportError> {
        self.lock().shut_down = true;
        Ok(())
    }
}

/// Whether `attributes` include every `(key, value)` of `wanted` (values
/// rendered as strings).
fn has_all(attributes: &[crate::export::Attribute], wanted: &[(&str, &str)]) -> bool {
    wanted.iter().all(|(k, v)| {
        attributes
            .iter()
            .any(|a| a.key == *k && a.value.render() == *v)
    })
}
