//! Aggregated metric data as exporters receive it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use crate::category::Category;
use crate::export::Attribute;
use crate::trace::{SpanId, TraceId};

/// A measurement taken inside a sampled span, kept with the point so a
/// dashboard can go from a latency spike or an error count to a trace
/// (OpenMetrics and OTLP exemplars). The library records them for the
/// calls of instrumented functions; it carries no attribute of its own
/// (nothing beyond the point's attributes and the trace it links to).
#[derive(Copy, Clone, Debug, PartialEq, serde::Serialize)]
pub struct Exemplar {
    /// The measured value (for a counter, the increment).
    pub value: f64,
    /// When it was measured.
    pub time: SystemTime,
    /// The trace it was measured in.
    pub trace_id: TraceId,
    /// The span it was measured in.
    pub span_id: SpanId,
}

/// Whether sums and histograms report totals since start or since the last export.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub enum Temporality {
    /// Totals since the instrument was created (OTLP `CUMULATIVE`).
    #[default]
    Cumulative,
    /// Totals since the previous export (OTLP `DELTA`).
    Delta,
}

/// A number.
#[derive(Copy, Clone, Debug, PartialEq, serde::Serialize)]
pub enum Number {
    /// Integer.
    I64(i64),
    /// Floating point.
    F64(f64),
}

/// One data point of a sum or gauge.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NumberPoint {
    /// The series' attributes.
    pub attributes: Vec<Attribute>,
    /// Start of the aggregation interval.
    pub start: SystemTime,
    /// When the point was taken.
    pub time: SystemTime,
    /// The value.
    pub value: Number,
    /// The latest exemplar, if any (see [`Exemplar`]).
    pub exemplars: Vec<Exemplar>,
}

/// One data point of a histogram with explicit bucket boundaries.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HistogramPoint {
    /// The series' attributes.
    pub attributes: Vec<Attribute>,
    /// Start of the aggregation interval.
    pub start: SystemTime,
    /// When the point was taken.
    pub time: SystemTime,
    /// Number of values recorded.
    pub count: u64,
    /// Sum of values recorded.
    pub sum: f64,
    /// Smallest value recorded (none when `count` is 0).
    pub min: Option<f64>,
    /// Largest value recorded.
    pub max: Option<f64>,
    /// Upper bounds of the buckets (the last bucket is unbounded).
    pub bounds: Arc<[f64]>,
    /// Counts per bucket: `bounds.len() + 1` entries.
    pub bucket_counts: Vec<u64>,
    /// The latest exemplar, if any (see [`Exemplar`]).
    pub exemplars: Vec<Exemplar>,
}

/// The data of one metric.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum MetricPoints {
    /// A sum (counter or up-down counter).
    Sum {
        /// Whether the sum only grows.
        monotonic: bool,
        /// Temporality.
        temporality: Temporality,
        /// Points, one per series.
        points: Vec<NumberPoint>,
    },
    /// A gauge (last value).
    Gauge {
        /// Points, one per series.
        points: Vec<NumberPoint>,
    },
    /// A histogram.
    Histogram {
        /// Temporality.
        temporality: Temporality,
        /// Points, one per series.
        points: Vec<HistogramPoint>,
    },
}

/// One metric with its points.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MetricData {
    /// Metric name.
    pub name: Cow<'static, str>,
    /// Description.
    pub description: Cow<'static, str>,
    /// Unit (UCUM), e.g. `ms`, `By`, `{order}`.
    pub unit: Cow<'static, str>,
    /// The category whose consent applied when values were recorded.
    pub category: Category,
    /// The points.
    pub points: MetricPoints,
}

impl MetricData {
    /// Number of data points.
    pub fn point_count(&self) -> usize {
        match &self.points {
            MetricPoints::Sum { points, .. } | MetricPoints::Gauge { points } => points.len(),
            MetricPoints::Histogram { points, .. } => points.len(),
        }
    }
}
