//! Metrics: instruments that aggregate in process, and the data exporters
//! receive. Every measurement passes the consent check of its category.

pub(crate) mod instrument;
pub(crate) mod registry;
pub(crate) mod series;

pub use instrument::{
    BoundCounter, BoundFloatCounter, BoundGauge, BoundHistogram, BoundUpDownCounter,
    DEFAULT_BOUNDARIES, InstrumentBuilder, MetricAttributes, kind,
};
