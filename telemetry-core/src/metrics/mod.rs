//! Metrics: instruments that aggregate in process, and the data exporters
//! receive. Every measurement passes the consent check of its category.

pub mod data;
pub(crate) mod instrument;
pub(crate) mod series;

pub use data::{HistogramPoint, MetricData, MetricPoints, Number, NumberPoint, Temporality};
pub use instrument::{
    BoundCounter, BoundFloatCounter, BoundGauge, BoundHistogram, BoundUpDownCounter, Counter,
    DEFAULT_BOUNDARIES, FloatCounter, Gauge, Histogram, InstrumentBuilder, MetricAttributes,
    UpDownCounter, kind,
};
