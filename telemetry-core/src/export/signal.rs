//! The three OpenTelemetry signals a batch carries.

/// One of the three kinds of data a batch carries.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Events and log records.
    Logs,
    /// Metric data points.
    Metrics,
}

impl Signal {
    /// Every signal, in this order (also their [`index`](Self::index)).
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// The signal's name: `traces`, `logs`, `metrics`.
    pub const fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// The signal's position in [`ALL`](Self::ALL) (0, 1 or 2).
    pub const fn index(self) -> usize {
        match self {
            Signal::Traces => 0,
            Signal::Logs => 1,
            Signal::Metrics => 2,
        }
    }
}
