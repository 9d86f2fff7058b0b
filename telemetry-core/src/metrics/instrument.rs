//! Metric instruments (counter, up-down counter, gauge, histogram), their
//! builder, and bound instruments for callsites with fixed attributes.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::category::Category;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::event::{EventSchema, FieldSchema};
use crate::export::{Exemplar, Temporality};
use crate::health::drops::DropCause;
use crate::instance::Inner;
use crate::metrics::registry::InstrumentCore;
use crate::metrics::series::{Found, Kind, Mine, Series, SeriesTable, ThreadCells};
use crate::privacy::FieldClass;
use crate::value::Value;

/// Attributes of one measurement: declared keys with public values.
pub type MetricAttributes<'a> = [(&'static str, Value<'a>)];

/// The default histogram bucket boundaries (OpenTelemetry's defaults).
pub const DEFAULT_BOUNDARIES: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// Marker types for [`InstrumentBuilder`].
pub mod kind {
    /// Builds a [`Counter`](super::Counter).
    #[derive(Debug)]
    pub struct Counter;
    /// Builds a [`FloatCounter`](super::FloatCounter).
    #[derive(Debug)]
    pub struct FloatCounter;
    /// Builds an [`UpDownCounter`](super::UpDownCounter).
    #[derive(Debug)]
    pub struct UpDownCounter;
    /// Builds a [`Gauge`](super::Gauge).
    #[derive(Debug)]
    pub struct Gauge;
    /// Builds a [`Histogram`](super::Histogram).
    #[derive(Debug)]
    pub struct Histogram;
}

/// Configures an instrument. Every attribute key must be declared: values
/// with other keys are ignored and counted with cause `limits`. A hashed or
/// redacted event field cannot be declared (identifiers do not belong in
/// metrics).
#[must_use = "call .build() to create the instrument"]
pub struct InstrumentBuilder<'t, K> {
    inner: &'t Arc<Inner>,
    name: Cow<'static, str>,
    category: Category,
    kind: Kind,
    unit: Cow<'static, str>,
    description: Cow<'static, str>,
    keys: Vec<&'static str>,
    bounds: Vec<f64>,
    temporality: Temporality,
    errors: Vec<String>,
    _kind: PhantomData<K>,
}

impl<K> std::fmt::Debug for InstrumentBuilder<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentBuilder")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<'t, K> InstrumentBuilder<'t, K> {
    pub(crate) fn new(
        inner: &'t Arc<Inner>,
        name: Cow<'static, str>,
        category: Category,
        kind: Kind,
    ) -> Self {
        InstrumentBuilder {
            inner,
            name,
            category,
            kind,
            unit: Cow::Borrowed(""),
            description: Cow::Borrowed(""),
            keys: Vec::new(),
            bounds: DEFAULT_BOUNDARIES.to_vec(),
            temporality: Temporality::Cumulative,
            errors: Vec::new(),
            _kind: PhantomData,
        }
    }

    /// The unit, in UCUM (`ms`, `s`, `By`, `{order}`).
    pub fn unit(mut self, unit: impl Into<Cow<'static, str>>) -> Self {
        self.unit = unit.into();
        self
    }

    /// What the metric measures.
    pub fn description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = description.into();
        self
    }

    /// Declares a public attribute key.
    pub fn attribute(mut self, key: &'static str) -> Self {
        if self.keys.contains(&key) {
            self.errors.push(format!(
                "attribute `{key}` is declared twice; declare it once"
            ));
        } else {
            self.keys.push(key);
        }
        self
    }

    /// Declares an event field as an attribute. Only public fields can be:
    /// a hashed or redacted field is rejected when the instrument is built.
    pub fn attribute_field(mut self, field: &FieldSchema) -> Self {
        if field.class == FieldClass::Public {
            return self.attribute(field.name);
        }
        self.errors.push(format!(
            "field `{}` is classified `{}` and cannot be a metric attribute: hashed, redacted \
             and dropped fields hold identifiers or secrets, which are high-cardinality and do \
             not belong in metrics; record it on an event instead, or classify it `public` if \
             it is not personal data",
            field.name,
            field.class.name()
        ));
        self
    }

    /// Declares the named fields of an event schema as attributes (see
    /// [`attribute_field`](Self::attribute_field)).
    pub fn attributes_from(mut self, schema: &'static EventSchema, fields: &[&str]) -> Self {
        for name in fields {
            match schema.fields.iter().find(|f| f.name == *name) {
                Some(f) => self = self.attribute_field(f),
                None => self.errors.push(format!(
                    "event `{}` has no field `{name}`; its fields are: {}",
                    schema.name,
                    schema
                        .fields
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        self
    }

    /// Report deltas since the last export instead of cumulative totals.
    pub fn temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = temporality;
        self
    }

    fn build_core(self) -> Result<(Arc<InstrumentCore>, Arc<Inner>), ConfigError> {
        let invalid = |msg: String| {
            ConfigError::new(
                ConfigErrorKind::InvalidMetric,
                format!("metric `{}`: {msg}", self.name),
            )
        };
        if self.name.is_empty() {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidMetric,
                "a metric name is empty; give it a name like `checkout.orders`",
            ));
        }
        if let Some(e) = self.errors.first() {
            return Err(invalid(e.clone()));
        }
        if self.kind == Kind::Histogram {
            if self.bounds.iter().any(|b| !b.is_finite()) {
                return Err(invalid(
                    "bucket boundaries must be finite numbers".to_owned(),
                ));
            }
            if self.bounds.windows(2).any(|w| w[0] >= w[1]) {
                return Err(invalid(format!(
                    "bucket boundaries must increase strictly, got {:?}",
                    self.bounds
                )));
            }
        }
        let inner = self.inner;
        let limits = inner.limits();
        let core = InstrumentCore {
            name: self.name.clone(),
            description: self.description,
            unit: self.unit,
            category: self.category,
            table: SeriesTable::new(
                self.kind,
                self.keys,
                self.bounds,
                self.temporality,
                limits.max_series_per_metric,
                limits.max_string_len,
            ),
        };
        let core = inner.metrics().register(core)?;
        Ok((core, Arc::clone(self.inner)))
    }
}

impl InstrumentBuilder<'_, kind::Histogram> {
    /// Explicit bucket boundaries (upper bounds, strictly increasing).
    pub fn boundaries(mut self, bounds: impl Into<Vec<f64>>) -> Self {
        self.bounds = bounds.into();
        self
    }
}

macro_rules! instrument {
    ($(#[$doc:meta])* $name:ident, $bound:ident, $marker:ident, $method:ident($v:ident: $t:ty) => $apply:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            /// The instrument's category, here so that the consent check
            /// does not first follow the `core` pointer.
            category: Category,
            core: Arc<InstrumentCore>,
            /// The instance, held but not kept running: when the service's
            /// last handle goes, it shuts down, and measurements after
            /// that are dropped with cause `disabled`.
            inner: Arc<Inner>,
        }

        impl InstrumentBuilder<'_, kind::$marker> {
            /// Builds the instrument. An instrument with the same name,
            /// kind and category is shared.
            pub fn build(self) -> Result<$name, ConfigError> {
                let (core, inner) = self.build_core()?;
                Ok($name { category: core.category, core, inner })
            }
        }

        impl $name {
            /// Records a measurement with `attributes`, if consent allows
            /// the instrument's category in the current context. Only the
            /// consent check is inlined where it is called: a refused
            /// measurement is the check and the count of the refusal.
            #[inline(always)]
            pub fn $method(&self, $v: $t, attributes: &MetricAttributes<'_>) {
                if self.inner.check(self.category).is_err() {
                    return;
                }
                self.apply_admitted($v, attributes);
            }

            /// A measurement once consent allowed it: the series lookup
            /// and the update, out of line.
            #[inline(never)]
            fn apply_admitted(&self, $v: $t, attributes: &MetricAttributes<'_>) {
                let bounds = &self.core.table.bounds;
                self.with_series(attributes, |s| $apply(s, $v, bounds, None));
            }

            /// Runs `apply` on the series of `attributes` (the overflow
            /// series past the limit, counted), consent already checked.
            #[inline]
            fn with_series(&self, attributes: &MetricAttributes<'_>, apply: impl FnOnce(&Series)) {
                let inner: &Inner = &self.inner;
                let category = self.category;
                let table = &self.core.table;
                let undeclared = || inner.drops().count(DropCause::Limits, category, 1);
                table.with_series_noting(attributes, undeclared, |found| match found {
                    Found::Series(s) => apply(s),
                    Found::Overflow => {
                        inner.drops().count(DropCause::Limits, category, 1);
                        apply(&table.overflow)
                    }
                });
            }

            /// Binds a fixed attribute set: the bound instrument skips the
            /// series lookup on every call, and (but for a gauge) each
            /// thread adds into cells of its own, with no locked
            /// instruction; a collection sums them.
            pub fn bind(&self, attributes: &MetricAttributes<'_>) -> $bound {
                let series = self.core.table.series_arc(attributes);
                $bound {
                    category: self.category,
                    local: series.thread_cells(self.core.table.is_delta()),
                    series,
                    core: self.core.clone(),
                    inner: self.inner.clone(),
                }
            }

            /// The instrument's name.
            pub fn name(&self) -> &str {
                &self.core.name
            }

            /// Number of distinct attribute sets recorded so far.
            pub fn series_count(&self) -> usize {
                self.core.table.len()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("name", &self.core.name).finish_non_exhaustive()
            }
        }

        #[doc = concat!("A [`", stringify!($name), "`] bound to one attribute set.")]
        #[derive(Clone)]
        pub struct $bound {
            category: Category,
            series: Arc<Series>,
            /// The series' per-thread cells (none for a gauge).
            local: Option<Arc<ThreadCells>>,
            core: Arc<InstrumentCore>,
            /// The instance, held but not kept running: when the service's
            /// last handle goes, it shuts down, and measurements after
            /// that are dropped with cause `disabled`.
            inner: Arc<Inner>,
        }

        impl $bound {
            /// Records a measurement, if consent allows it.
            #[inline]
            pub fn $method(&self, $v: $t) {
                let inner: &Inner = &self.inner;
                let category = self.category;
                if inner.check(category).is_err() {
                    return;
                }
                $apply(&self.series, $v, &self.core.table.bounds, self.mine())
            }

            /// This thread's cells of the series, if it has a slot.
            #[inline(always)]
            fn mine(&self) -> Option<Mine<'_>> {
                self.local.as_deref().and_then(ThreadCells::mine)
            }
        }

        impl std::fmt::Debug for $bound {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($bound)).field("name", &self.core.name).finish_non_exhaustive()
            }
        }
    };
}

instrument!(
    /// A monotonic sum (requests, orders, bytes sent).
    Counter, BoundCounter, Counter, add(value: u64) => |s: &Series, v, _b: &[f64], m| s.add_u64(v, m)
);
instrument!(
    /// A monotonic sum of fractional amounts (CPU seconds, kilowatt-hours).
    /// Negative, infinite and NaN amounts are ignored.
    FloatCounter, BoundFloatCounter, FloatCounter, add(value: f64) => |s: &Series, v, _b: &[f64], m| s.add_f64(v, m)
);
instrument!(
    /// A sum that goes up and down (queue depth, open connections).
    UpDownCounter, BoundUpDownCounter, UpDownCounter, add(value: i64) => |s: &Series, v, _b: &[f64], m| s.add_i64(v, m)
);
instrument!(
    /// The last value of a measurement (temperature, pool size).
    Gauge, BoundGauge, Gauge, record(value: f64) => |s: &Series, v, _b: &[f64], m| s.set_f64(v, m)
);
instrument!(
    /// A distribution in explicit buckets (latency, payload size).
    Histogram, BoundHistogram, Histogram, record(value: f64) => |s: &Series, v, b: &[f64], m| s.record_f64(v, b, m)
);

/// The measurements of an instrumented call, at its end: the gate admitted
/// the call at its start, in the same context, so they are not checked
/// again.
impl BoundCounter {
    /// Adds `value`.
    #[inline]
    pub(crate) fn add_admitted(&self, value: u64) {
        self.series.add_u64(value, self.mine());
    }

    /// Adds `value` and offers the exemplar `exemplar` makes, measured at
    /// monotonic time `mono` (see [`Series::offer_exemplar`]).
    #[inline]
    pub(crate) fn add_with_exemplar(
        &self,
        value: u64,
        mono: u64,
        exemplar: impl FnOnce() -> Exemplar,
    ) {
        self.series.add_u64(value, self.mine());
        self.series.offer_exemplar(mono, exemplar);
    }
}

impl BoundHistogram {
    /// Records `value` and offers the exemplar `exemplar` makes, measured
    /// at monotonic time `mono`.
    #[inline]
    pub(crate) fn record_with_exemplar(
        &self,
        value: f64,
        mono: u64,
        exemplar: impl FnOnce() -> Exemplar,
    ) {
        self.series
            .record_f64(value, &self.core.table.bounds, self.mine());
        self.series.offer_exemplar(mono, exemplar);
    }
}

impl Counter {
    /// [`add`](Self::add), offering the exemplar `exemplar` makes,
    /// measured at monotonic time `mono`.
    pub(crate) fn add_exemplar(
        &self,
        value: u64,
        attributes: &MetricAttributes<'_>,
        mono: u64,
        exemplar: impl FnOnce() -> Exemplar,
    ) {
        if self.inner.check(self.category).is_err() {
            return;
        }
        self.with_series(attributes, |s| {
            s.add_u64(value, None);
            s.offer_exemplar(mono, exemplar);
        });
    }
}

impl Histogram {
    /// [`record`](Self::record), offering the exemplar `exemplar` makes,
    /// measured at monotonic time `mono`.
    pub(crate) fn record_exemplar(
        &self,
        value: f64,
        attributes: &MetricAttributes<'_>,
        mono: u64,
        exemplar: impl FnOnce() -> Exemplar,
    ) {
        if self.inner.check(self.category).is_err() {
            return;
        }
        let bounds = &self.core.table.bounds;
        self.with_series(attributes, |s| {
            s.record_f64(value, bounds, None);
            s.offer_exemplar(mono, exemplar);
        });
    }
}
