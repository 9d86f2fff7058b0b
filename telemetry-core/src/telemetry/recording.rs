//! What instrumenting code records through the [`Telemetry`] handle:
//! metric instruments, typed and ad-hoc events, and spans.

use std::borrow::Cow;

use crate::category::Category;
use crate::event::builder::{EventBuilder, default_severity};
use crate::event::schema::{EventSchema, FieldVisitor, TelemetryEvent};
use crate::export::Severity;
use crate::metrics::instrument::{InstrumentBuilder, kind};
use crate::metrics::series::Kind;
use crate::subject::context::fast_span;
use crate::trace::span::Span;
use crate::trace::{SpanDecision, TraceId};

use super::Telemetry;

impl Telemetry {
    /// Starts a counter (monotonic sum).
    pub fn counter(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::Counter> {
        InstrumentBuilder::new(&self.inner, name.into(), category, Kind::Counter)
    }

    /// Starts a counter of fractional amounts (monotonic sum of `f64`).
    pub fn float_counter(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::FloatCounter> {
        InstrumentBuilder::new(&self.inner, name.into(), category, Kind::FloatCounter)
    }

    /// Starts an up-down counter.
    pub fn up_down_counter(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::UpDownCounter> {
        InstrumentBuilder::new(&self.inner, name.into(), category, Kind::UpDownCounter)
    }

    /// Starts a gauge.
    pub fn gauge(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::Gauge> {
        InstrumentBuilder::new(&self.inner, name.into(), category, Kind::Gauge)
    }

    /// Starts a histogram with explicit bucket boundaries.
    pub fn histogram(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::Histogram> {
        InstrumentBuilder::new(&self.inner, name.into(), category, Kind::Histogram)
    }

    /// Records a typed event, if the subject consented to its category and
    /// the sampler keeps it. The event's fields are read only after both
    /// said yes, and only as their classes allow.
    #[inline(always)]
    pub fn emit<E: TelemetryEvent>(&self, event: &E) {
        crate::event::builder::emit(&self.inner, event, default_severity(E::SCHEMA.category));
    }

    /// Records a typed event with an explicit severity.
    pub fn emit_with_severity<E: TelemetryEvent>(&self, event: &E, severity: Severity) {
        crate::event::builder::emit(&self.inner, event, severity);
    }

    /// Records an event described at run time by `schema`, for events that
    /// arrive as data (a browser's batch, a queue) rather than as a typed
    /// value: the schema is usually a registered type's
    /// [`TelemetryEvent::SCHEMA`]. Consent, sampling and the fields'
    /// classes apply exactly as for [`emit`](Self::emit); `subject` is the
    /// raw id whose consent applies (`None`: the current subject scope).
    /// `fields` is called only if the event is admitted, and hands each
    /// value with its index into `schema.fields`; the caller has checked
    /// each value against the field's type.
    ///
    /// ```
    /// # use telemetry_core::*;
    /// # use telemetry_core::event::FieldVisitor;
    /// /// A page was shown.
    /// #[derive(TelemetryEvent)]
    /// #[telemetry(name = "page.viewed", category = performance)]
    /// struct PageViewed<'a> {
    ///     #[telemetry(public)]
    ///     page: &'a str,
    /// }
    ///
    /// # let telemetry = Telemetry::builder().service("s", "1").build().unwrap();
    /// let page = String::from("/cart"); // parsed from a request
    /// telemetry.emit_schema(PageViewed::SCHEMA, None, |v: &mut dyn FieldVisitor| {
    ///     v.field(0, Value::Str(&page));
    /// });
    /// ```
    pub fn emit_schema(
        &self,
        schema: &'static EventSchema,
        subject: Option<&str>,
        fields: impl FnOnce(&mut dyn FieldVisitor),
    ) {
        crate::event::builder::emit_described(
            &self.inner,
            schema,
            default_severity(schema.category),
            subject,
            fields,
        );
    }

    /// Starts an ad-hoc event. Consent and sampling are decided here: if the
    /// event is dropped, the builder ignores everything given to it.
    ///
    /// ```
    /// # use telemetry_core::*;
    /// # let telemetry = Telemetry::builder().service("s", "1").build().unwrap();
    /// telemetry
    ///     .event("search.performed", Category::INTERACTION)
    ///     .public("results", 12u64)
    ///     .hashed("query", "red shoes")
    ///     .emit();
    /// ```
    pub fn event(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> EventBuilder<'_> {
        EventBuilder::start(&self.inner, name.into(), category)
    }

    /// Starts a span of `category`, a child of the current span (or a new
    /// root). Consent is checked first, then sampling: a denied or
    /// sampled-out span reads no clock and allocates nothing.
    #[inline(always)]
    pub fn span(&self, name: impl Into<Cow<'static, str>>, category: Category) -> Span {
        Span::start(&self.inner, || name.into(), category, fast_span)
    }

    /// Like [`span`](Self::span), with the name built only for a span that
    /// is recorded: a denied or sampled-out span formats nothing.
    ///
    /// ```
    /// # use telemetry_core::*;
    /// # let telemetry = Telemetry::builder().service("s", "1").build().unwrap();
    /// # let (method, path) = ("GET", "/cart");
    /// let span = telemetry.span_with(Category::PERFORMANCE, || format!("{method} {path}").into());
    /// ```
    #[inline(always)]
    pub fn span_with(&self, category: Category, name: impl FnOnce() -> Cow<'static, str>) -> Span {
        Span::start(&self.inner, name, category, fast_span)
    }

    /// Runs `f` inside a new span of `category`, entered for the duration.
    pub fn in_span<R>(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
        f: impl FnOnce(&mut Span) -> R,
    ) -> R {
        let mut span = self.span(name, category);
        let _entered = span.enter();
        f(&mut span)
    }

    /// The consent and sampling decision for a span of `category` in trace
    /// `trace_id`, for samplers outside this library (such as the
    /// OpenTelemetry `ShouldSample` adapter in `telemetry-exporters`).
    /// Consent is checked for the current context's subject; a parent's
    /// decision is followed; drops are counted as for our own spans.
    pub fn decide_span(
        &self,
        category: Category,
        trace_id: TraceId,
        parent_sampled: Option<bool>,
    ) -> SpanDecision {
        self.inner.decide_span(category, trace_id, parent_sampled)
    }
}
