//! Runtime support for the code `telemetry-macros` generates. Not a public
//! API: names and signatures here change without notice.

use std::future::Future;
use std::sync::OnceLock;

pub use inventory;

pub use crate::catalogue::{CatalogueItem, FunctionSchema, SourceLocation};
use crate::category::Category;
use crate::consent::gate::Who;
use crate::context::{Context, ContextGuard};
use crate::future::WithContext;
use crate::metrics::{BoundCounter, Counter, Histogram};
use crate::privacy::FieldClass;
use crate::record::Severity;
use crate::span::{Entered, Span};
use crate::telemetry::{MacroInstance, Telemetry};
use crate::value::{TelemetryValue, Value};

/// Duration histogram bounds, in seconds (OpenTelemetry's HTTP defaults).
const DURATION_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct CallMetrics {
    calls: Counter,
    ok: BoundCounter,
    duration: Histogram,
}

/// A function's instruments: cached, or built for this call.
enum CallMetricsRef<'a> {
    Cached(&'a CallMetrics),
    Built(CallMetrics),
}

impl std::ops::Deref for CallMetricsRef<'_> {
    type Target = CallMetrics;
    fn deref(&self) -> &CallMetrics {
        match self {
            CallMetricsRef::Cached(m) => m,
            CallMetricsRef::Built(m) => m,
        }
    }
}

/// One instrumented function: its schema and lazily built instruments.
pub struct Callsite {
    schema: &'static FunctionSchema,
    metrics: OnceLock<(u64, Option<CallMetrics>)>,
    calls_name: &'static str,
    duration_name: &'static str,
}

impl Callsite {
    /// A callsite for `schema`; `metrics` holds the names of its call
    /// counter and duration histogram.
    pub const fn new(schema: &'static FunctionSchema) -> Self {
        let (calls_name, duration_name) = match schema.metrics {
            [calls, duration, ..] => (*calls, *duration),
            _ => ("", ""),
        };
        Callsite {
            schema,
            metrics: OnceLock::new(),
            calls_name,
            duration_name,
        }
    }

    /// The function's instruments in `t`. They are built once, for the
    /// first instance the function records into (the installed one in a
    /// service); an instance set as a thread's default in a test after
    /// another one gets its own, built per call.
    fn metrics(&self, t: &Telemetry) -> Option<CallMetricsRef<'_>> {
        let (owner, cached) = self
            .metrics
            .get_or_init(|| (t.inner.id, self.build_metrics(t)));
        if *owner == t.inner.id {
            cached.as_ref().map(CallMetricsRef::Cached)
        } else {
            self.build_metrics(t).map(CallMetricsRef::Built)
        }
    }

    fn build_metrics(&self, t: &Telemetry) -> Option<CallMetrics> {
        let category = self.schema.category;
        let calls = t
            .counter(self.calls_name, category)
            .unit("{call}")
            .description("Calls of an instrumented function, by outcome.")
            .attribute("outcome")
            .attribute("error.type")
            .build()
            .ok()?;
        let duration = t
            .histogram(self.duration_name, category)
            .unit("s")
            .description("Duration of recorded (sampled) calls of an instrumented function.")
            .boundaries(DURATION_BOUNDS.to_vec())
            .attribute("outcome")
            .attribute("error.type")
            .build()
            .ok()?;
        let ok = calls.bind(&[("outcome", Value::Str("ok"))]);
        Some(CallMetrics {
            calls,
            ok,
            duration,
        })
    }

    /// Starts a call: checks consent (for the subject argument if given,
    /// else the current subject), then sampling. When either says no, the
    /// returned call does nothing: no span, no clock read, no argument read.
    #[inline]
    pub fn enter(&'static self, subject: Option<&str>) -> Option<Call> {
        let Some(t) = Telemetry::for_macros() else {
            no_instance(self.schema.name);
            return None;
        };
        let category = self.schema.category;
        let context = match subject {
            None => {
                t.inner.admit(category, Who::Current).ok()?;
                None
            }
            Some(id) => {
                let ctx = t.subject_context(id);
                t.inner.admit(category, Who::In(&ctx)).ok()?;
                Some(ctx)
            }
        };
        Some(Call::start(self, t, context))
    }
}

/// Calls of instrumented functions that found no telemetry instance (none
/// installed, no default set on their thread).
pub(crate) static CALLS_WITHOUT_INSTANCE: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// Counts a call that found no instance; the first one prints a hint.
#[cold]
fn no_instance(function: &str) {
    use std::sync::atomic::Ordering;
    if CALLS_WITHOUT_INSTANCE.fetch_add(1, Ordering::Relaxed) == 0 {
        eprintln!(
            "telemetry: `{function}` (#[instrument_event]) ran before any telemetry instance was \
             installed, so it recorded nothing; call `.install()` on the builder in `main`, or \
             `telemetry.set_default()` in a test (calls without an instance are counted in \
             `telemetry.calls.without_instance`)"
        );
    }
}

/// A call in progress (consent allowed it; its span may be sampled out).
pub struct Call {
    site: &'static Callsite,
    telemetry: MacroInstance,
    span: Span,
    context: Option<Context>,
    start: u64,
}

impl Call {
    #[inline(never)]
    fn start(site: &'static Callsite, t: MacroInstance, context: Option<Context>) -> Call {
        let span = match &context {
            Some(ctx) => {
                let _g = ctx.clone().attach();
                t.span(site.schema.name, site.schema.category)
            }
            None => t.span(site.schema.name, site.schema.category),
        };
        let context = context.map(|mut ctx| {
            ctx.span = span.context().or(ctx.span);
            ctx
        });
        let start = if span.is_recording() {
            t.inner.clock.mono()
        } else {
            0
        };
        Call {
            site,
            telemetry: t,
            span,
            context,
            start,
        }
    }

    /// Whether the call's span is recorded (so arguments are read).
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.span.is_recording()
    }

    /// Records argument `index` of the schema's fields.
    pub fn field<V: TelemetryValue + ?Sized>(&mut self, index: usize, value: &V) {
        if let Some(f) = self.site.schema.fields.get(index) {
            self.span.record_value(f.name, f.class, value.to_value());
        }
    }

    /// Records argument `index` as redacted (its value is never read).
    pub fn redacted(&mut self, index: usize) {
        if let Some(f) = self.site.schema.fields.get(index) {
            self.span
                .record_value(f.name, FieldClass::Redacted, Value::Absent);
        }
    }

    /// Makes the call's span (and subject) current until the guard drops.
    #[inline]
    pub fn enter(&self) -> CallEntered {
        match &self.context {
            Some(ctx) => CallEntered::Context(ctx.clone().attach()),
            None => CallEntered::Span(self.span.enter()),
        }
    }

    /// Runs `future` with the call's span (and subject) current on every poll.
    pub fn instrument<F: Future>(&mut self, future: F) -> WithContext<F> {
        let context = match &self.context {
            Some(ctx) => ctx.clone(),
            None => Context::current().with_span_opt(self.span.context()),
        };
        context.wrap(future)
    }

    /// Records the return value with `class` (the `Ok` value of a `Result`),
    /// only in a span that may identify its subject: a return value can be
    /// personal data, so an anonymous span leaves it out (counted).
    pub fn ret<R: RetValue + ?Sized>(&mut self, class: FieldClass, result: &R) {
        if self.span.is_recording() {
            let span = &mut self.span;
            result.with_value(|v| span.record_identifying("return", class, v));
        }
    }

    /// Records an `Err` as an `exception` event in the errors category, with
    /// the error's type (never its message).
    pub fn error<T, E>(&mut self, result: &Result<T, E>) {
        if let Err(e) = result {
            self.error_event::<E>(None);
            self.span.set_error(e);
        }
    }

    /// Like [`error`](Self::error), and records the error's message with
    /// `class`, in an event that may identify its subject only (the message
    /// is not even formatted otherwise).
    pub fn error_with_message<T, E: std::fmt::Display>(
        &mut self,
        class: FieldClass,
        result: &Result<T, E>,
    ) {
        if let Err(e) = result {
            self.error_event::<E>(Some((class, e)));
            self.span.set_error(e);
        }
    }

    fn error_event<E>(&self, message: Option<(FieldClass, &dyn std::fmt::Display)>) {
        let t = &*self.telemetry;
        let ctx = self.context.clone();
        let _g = ctx.map(Context::attach);
        let _e = self.span.enter();
        let mut event = t
            .event("exception", Category::ERRORS)
            .severity(Severity::Error)
            .public("exception.type", std::any::type_name::<E>())
            .public("code.function", self.site.schema.name);
        if let Some((class, message)) = message {
            event = event.identifying_with("exception.message", class, || message.to_string());
        }
        event.emit();
    }

    /// Ends the call: the span ends (status from an `Err`), the call counter
    /// and, for a recorded span, the duration histogram get the outcome.
    #[inline]
    pub fn finish(mut self, outcome: Outcome) {
        self.finish_outcome(outcome);
    }

    #[inline(never)]
    fn finish_outcome(&mut self, outcome: Outcome) {
        let t = &*self.telemetry;
        let Some(metrics) = self.site.metrics(t) else {
            return;
        };
        let _g = self.context.clone().map(Context::attach);
        let attrs: &[(&'static str, Value<'_>)] = match outcome {
            Outcome::Ok => &[],
            Outcome::Err(ty) => &[
                ("outcome", Value::Str("error")),
                ("error.type", Value::Str(ty)),
            ],
        };
        match outcome {
            Outcome::Ok => metrics.ok.add(1),
            Outcome::Err(ty) => {
                metrics.calls.add(1, attrs);
                if !self.span.has_error_status() {
                    self.span.set_error_description(ty);
                }
            }
        }
        if self.span.is_recording() {
            let secs = t.inner.clock.mono().saturating_sub(self.start) as f64 / 1e9;
            match outcome {
                Outcome::Ok => metrics
                    .duration
                    .record(secs, &[("outcome", Value::Str("ok"))]),
                Outcome::Err(_) => metrics.duration.record(secs, attrs),
            }
        }
    }
}

/// The guard [`Call::enter`] returns.
pub enum CallEntered {
    /// The call's span is current.
    Span(Entered),
    /// The call's subject and span are current.
    Context(ContextGuard),
}

/// How a call ended.
#[derive(Copy, Clone, Debug)]
pub enum Outcome {
    /// Not an `Err`.
    Ok,
    /// An `Err` of this type.
    Err(&'static str),
}

/// The outcome of a `Result` return value. Generated code calls
/// `(&result).__telemetry_outcome()` with this trait and [`OutcomeOfAny`] in
/// scope: method resolution picks this one for a `Result` and the other for
/// any other type (autoref specialisation).
pub trait OutcomeOfResult {
    /// The outcome.
    fn __telemetry_outcome(&self) -> Outcome;
}

impl<T, E> OutcomeOfResult for Result<T, E> {
    #[inline]
    fn __telemetry_outcome(&self) -> Outcome {
        match self {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Err(std::any::type_name::<E>()),
        }
    }
}

/// The outcome of a return value that is not a `Result`: always ok.
pub trait OutcomeOfAny {
    /// The outcome.
    fn __telemetry_outcome(&self) -> Outcome;
}

impl<T: ?Sized> OutcomeOfAny for &T {
    #[inline]
    fn __telemetry_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// The value recorded by `ret`: the value itself, or a `Result`'s `Ok` value.
pub trait RetValue {
    /// Calls `f` with the value to record.
    fn with_value(&self, f: impl FnOnce(Value<'_>));
}

impl<T: TelemetryValue> RetValue for T {
    fn with_value(&self, f: impl FnOnce(Value<'_>)) {
        f(self.to_value())
    }
}

impl<T: TelemetryValue, E> RetValue for Result<T, E> {
    fn with_value(&self, f: impl FnOnce(Value<'_>)) {
        if let Ok(v) = self {
            f(v.to_value())
        }
    }
}

/// The subject id of a `subject = arg` argument.
#[inline]
pub fn subject_id<S: AsRef<str> + ?Sized>(s: &S) -> &str {
    s.as_ref()
}

/// Compile-time check that `err` is used on a function returning `Result`.
#[diagnostic::on_unimplemented(
    message = "`err` records the `Err` of a `Result`, but this function returns `{Self}`",
    label = "not a `Result`",
    note = "remove `err`, or return a `Result`"
)]
pub trait IsResult {}
impl<T, E> IsResult for Result<T, E> {}

/// Asserts `R: IsResult`.
#[inline(always)]
pub fn assert_result<R: IsResult + ?Sized>(_: &R) {}

/// `tracing` re-exported for the mirror span macros.
#[cfg(feature = "tracing")]
pub use tracing;

/// The `tracing` span an instrumented function opens for other `tracing`
/// layers (feature `tracing`): `None` when no subscriber wants INFO spans
/// at all, so that case costs one static load.
#[cfg(feature = "tracing")]
pub type Mirror = Option<tracing::Span>;
/// The `tracing` span an instrumented function opens for other `tracing`
/// layers (feature `tracing`), or nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Copy, Clone, Debug)]
pub struct Mirror;

/// Enters the mirror span until the guard drops.
#[cfg(feature = "tracing")]
#[inline]
pub fn mirror_enter(mirror: &Mirror) -> Option<tracing::span::Entered<'_>> {
    mirror.as_ref().map(tracing::Span::enter)
}
/// Enters the mirror span until the guard drops.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub fn mirror_enter(_: &Mirror) -> MirrorEntered {
    MirrorEntered
}

/// What [`mirror_enter`] returns without the `tracing` feature.
#[cfg(not(feature = "tracing"))]
#[derive(Debug)]
pub struct MirrorEntered;

/// Runs `future` inside the mirror span.
#[cfg(feature = "tracing")]
#[inline]
pub fn mirror_instrument<F: Future>(
    future: F,
    mirror: Mirror,
) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(future, mirror.unwrap_or_else(tracing::Span::none))
}
/// Runs `future` inside the mirror span.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub fn mirror_instrument<F: Future>(future: F, _: Mirror) -> F {
    future
}

/// Opens the mirror span of an instrumented function (feature `tracing`):
/// an INFO span named after the function, in the caller's module, marked so
/// the library's own layer does not record it twice.
#[cfg(feature = "tracing")]
#[doc(hidden)]
#[macro_export]
macro_rules! __telemetry_mirror_span {
    ($name:literal) => {
        if $crate::__private::tracing::level_enabled!($crate::__private::tracing::Level::INFO) {
            ::core::option::Option::Some($crate::__private::tracing::span!(
                target: ::core::module_path!(),
                $crate::__private::tracing::Level::INFO,
                $name,
                telemetry.mirror = $crate::__private::tracing::field::Empty
            ))
        } else {
            ::core::option::Option::None
        }
    };
}

/// Opens the mirror span of an instrumented function: nothing without the
/// `tracing` feature.
#[cfg(not(feature = "tracing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __telemetry_mirror_span {
    ($name:literal) => {
        $crate::__private::Mirror
    };
}
