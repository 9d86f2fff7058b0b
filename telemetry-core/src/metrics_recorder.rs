//! A recorder for the `metrics` facade (feature `metrics-recorder`): a
//! service's `metrics::counter!`, `gauge!` and `histogram!` calls go
//! through this library's consent checks, limits and exporters, so there is
//! one metrics pipeline, not two.
//!
//! Metric names are routed to categories by prefix, the way the `tracing`
//! layer routes targets (the longest matching prefix wins; unrouted names
//! get the default category, `performance`). Labels become attributes:
//! every label value is recorded as is (public), so do not put identifiers
//! in labels; the series limit caps their number.
//!
//! ```
//! use telemetry_core::metrics_recorder::MetricsRecorder;
//! use telemetry_core::{Category, Telemetry};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder().service("shop", "1.0").build()?;
//! let recorder = MetricsRecorder::builder(&telemetry)
//!     .route("shop.orders", Category::BUSINESS)
//!     .build();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::counter!("shop.orders.placed", "plan" => "pro").increment(1);
//!     metrics::histogram!("http.latency").record(0.012);
//! });
//! // In a service: metrics::set_global_recorder(recorder)?;
//! # Ok(()) }
//! ```
//!
//! Each `register_*` builds (or shares) this library's instrument for the
//! name, with the label keys of that first registration declared, and
//! binds the label values: a handle the service keeps is one consent check
//! and an atomic update. A later registration of the same name with other
//! label keys shares the first instrument; undeclared labels are left out
//! and counted as `limits` drops.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::category::Category;
use crate::metrics::instrument::{BoundCounter, BoundGauge, BoundHistogram, InstrumentBuilder};
use crate::telemetry::Telemetry;
use crate::value::Value;

/// Builds a [`MetricsRecorder`].
#[derive(Debug)]
pub struct MetricsRecorderBuilder {
    telemetry: Telemetry,
    routes: Vec<(String, Category)>,
    default: Category,
}

impl MetricsRecorderBuilder {
    /// Metrics whose name starts with `prefix` are recorded in `category`.
    pub fn route(mut self, prefix: impl Into<String>, category: Category) -> Self {
        self.routes.push((prefix.into(), category));
        self
    }

    /// The category of metrics no route matches (default `performance`).
    pub fn default_category(mut self, category: Category) -> Self {
        self.default = category;
        self
    }

    /// The recorder.
    pub fn build(mut self) -> MetricsRecorder {
        // Longest prefix first.
        self.routes
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        MetricsRecorder {
            telemetry: self.telemetry,
            routes: self.routes,
            default: self.default,
            described: Mutex::new(Vec::new()),
        }
    }
}

/// A `metrics::Recorder` recording into a [`Telemetry`] instance.
#[derive(Debug)]
pub struct MetricsRecorder {
    telemetry: Telemetry,
    routes: Vec<(String, Category)>,
    default: Category,
    /// Units and descriptions given with `describe_*` before registration.
    described: Mutex<Vec<(String, Option<Unit>, String)>>,
}

impl MetricsRecorder {
    /// Starts a recorder for `telemetry`.
    pub fn builder(telemetry: &Telemetry) -> MetricsRecorderBuilder {
        MetricsRecorderBuilder {
            telemetry: telemetry.clone(),
            routes: Vec::new(),
            default: Category::PERFORMANCE,
        }
    }

    fn category(&self, name: &str) -> Category {
        self.routes
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix.as_str()))
            .map_or(self.default, |(_, c)| *c)
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Ok(mut d) = self.described.lock() {
            d.push((key.as_str().to_owned(), unit, description.to_string()));
        }
    }

    /// The unit and description given for `name`, if any.
    fn description_of(&self, name: &str) -> (String, String) {
        let d = self.described.lock().unwrap_or_else(|p| p.into_inner());
        d.iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .map(|(_, unit, description)| {
                (
                    unit.map(|u| ucum(u).to_owned()).unwrap_or_default(),
                    description.clone(),
                )
            })
            .unwrap_or_default()
    }
}

/// Gives `builder` the unit and description described for `name` and
/// declares the label keys as attributes.
fn declare<'t, K>(
    recorder: &MetricsRecorder,
    builder: InstrumentBuilder<'t, K>,
    name: &str,
    labels: &[(&'static str, String)],
) -> InstrumentBuilder<'t, K> {
    let (unit, description) = recorder.description_of(name);
    labels
        .iter()
        .fold(builder.unit(unit).description(description), |b, (k, _)| {
            b.attribute(k)
        })
}

/// The UCUM unit OpenTelemetry uses for a `metrics` unit.
fn ucum(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "1",
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Bytes => "By",
        Unit::Kibibytes => "KiBy",
        Unit::Mebibytes => "MiBy",
        Unit::Gibibytes => "GiBy",
        Unit::Tebibytes => "TiBy",
        Unit::BitsPerSecond => "bit/s",
        Unit::KilobitsPerSecond => "kbit/s",
        Unit::MegabitsPerSecond => "Mbit/s",
        Unit::GigabitsPerSecond => "Gbit/s",
        Unit::TerabitsPerSecond => "Tbit/s",
        Unit::CountPerSecond => "1/s",
    }
}

/// Label keys as `&'static str` (attribute keys are): each distinct key is
/// kept once for the life of the process. Label keys are names in code, so
/// their number is small and fixed.
fn intern(key: &str) -> &'static str {
    static KEYS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut keys = KEYS
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(k) = keys.get(key) {
        return k;
    }
    let leaked: &'static str = Box::leak(key.to_owned().into_boxed_str());
    keys.insert(leaked);
    leaked
}

/// The attribute keys and values of a key's labels.
fn labels(key: &Key) -> Vec<(&'static str, String)> {
    key.labels()
        .map(|l| (intern(l.key()), l.value().to_owned()))
        .collect()
}

fn attributes<'a>(labels: &'a [(&'static str, String)]) -> Vec<(&'static str, Value<'a>)> {
    labels.iter().map(|(k, v)| (*k, Value::Str(v))).collect()
}

struct CounterHandle(BoundCounter);

impl metrics::CounterFn for CounterHandle {
    fn increment(&self, value: u64) {
        self.0.add(value);
    }
    fn absolute(&self, _value: u64) {
        // A cumulative counter set from outside has no delta to add:
        // ignored, as OpenTelemetry's bridges do.
    }
}

struct GaugeHandle {
    gauge: BoundGauge,
    /// The value, for increments and decrements (f64 bits).
    value: AtomicU64,
}

impl GaugeHandle {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let mut current = self.value.load(Ordering::Relaxed);
        loop {
            let next = f(f64::from_bits(current));
            match self.value.compare_exchange_weak(
                current,
                next.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.gauge.record(next);
                    return;
                }
                Err(seen) => current = seen,
            }
        }
    }
}

impl metrics::GaugeFn for GaugeHandle {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}

struct HistogramHandle(BoundHistogram);

impl metrics::HistogramFn for HistogramHandle {
    fn record(&self, value: f64) {
        self.0.record(value);
    }
}

impl Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let name = key.name().to_owned();
        let labels = labels(key);
        let builder = self.telemetry.counter(name.clone(), self.category(&name));
        match declare(self, builder, &name, &labels).build() {
            Ok(counter) => {
                let attrs = attributes(&labels);
                Counter::from_arc(Arc::new(CounterHandle(counter.bind(&attrs))))
            }
            Err(_) => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let name = key.name().to_owned();
        let labels = labels(key);
        let builder = self.telemetry.gauge(name.clone(), self.category(&name));
        match declare(self, builder, &name, &labels).build() {
            Ok(gauge) => {
                let attrs = attributes(&labels);
                Gauge::from_arc(Arc::new(GaugeHandle {
                    gauge: gauge.bind(&attrs),
                    value: AtomicU64::new(0f64.to_bits()),
                }))
            }
            Err(_) => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let name = key.name().to_owned();
        let labels = labels(key);
        let builder = self.telemetry.histogram(name.clone(), self.category(&name));
        match declare(self, builder, &name, &labels).build() {
            Ok(histogram) => {
                let attrs = attributes(&labels);
                Histogram::from_arc(Arc::new(HistogramHandle(histogram.bind(&attrs))))
            }
            Err(_) => Histogram::noop(),
        }
    }
}
