//! One instrumented function's call: the gate at entry (consent before any
//! argument is read), its span, the argument and return-value capture, the
//! error event, and the call counter and duration histogram at the end.
//!
//! The `exception` events of an `Err` or a panic are in [`exception`], with
//! the stack frames of [`backtrace`]; calls that found no telemetry
//! instance are counted in [`no_instance`](mod@no_instance).

mod backtrace;
mod exception;
mod no_instance;

use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;

use crate::catalogue::{
    FUNCTION_CALLS, FUNCTION_DURATION, FUNCTION_DURATION_BOUNDS, FunctionSchema,
};
use crate::category::Category;
use crate::consent::gate::{Consented, Who};
use crate::export::Exemplar;
use crate::metrics::instrument::{Counter, Histogram};
use crate::metrics::{BoundCounter, BoundHistogram};
use crate::privacy::FieldClass;
use crate::subject::context::{Context, ContextGuard, fast_span};
use crate::subject::future::WithContext;
use crate::telemetry::{MacroInstance, Telemetry};
use crate::trace::span::{Entered, Span};
use crate::value::{TelemetryValue, Value};

use super::outcome::{Outcome, RetValue};
use no_instance::no_instance;
pub(crate) use no_instance::report_calls_without_instance;

struct CallMetrics {
    calls: Counter,
    ok: BoundCounter,
    duration: Histogram,
    ok_duration: BoundHistogram,
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
    /// The function's module path (its crate is the first segment).
    module: &'static str,
    metrics: OnceLock<(u64, Option<CallMetrics>)>,
}

impl Callsite {
    /// A callsite for `schema`, a function in module `module`.
    pub const fn new(schema: &'static FunctionSchema, module: &'static str) -> Self {
        Callsite {
            schema,
            module,
            metrics: OnceLock::new(),
        }
    }

    /// The function's instruments in `t`. They are built once, for the
    /// first instance the function records into (the installed one in a
    /// service); an instance set as a thread's default in a test after
    /// another one gets its own, built per call.
    /// The function's instruments if they are built already, for `t`:
    /// the usual case, with no lookup beyond one load and a compare.
    #[inline(always)]
    fn cached_metrics(&self, t: &Telemetry) -> Option<&CallMetrics> {
        match self.metrics.get() {
            Some((owner, Some(metrics))) if *owner == t.inner.id() => Some(metrics),
            _ => None,
        }
    }

    fn metrics(&self, t: &Telemetry) -> Option<CallMetricsRef<'_>> {
        let (owner, cached) = self
            .metrics
            .get_or_init(|| (t.inner.id(), self.build_metrics(t)));
        if *owner == t.inner.id() {
            cached.as_ref().map(CallMetricsRef::Cached)
        } else {
            self.build_metrics(t).map(CallMetricsRef::Built)
        }
    }

    /// The shared family instruments (one per category), and this
    /// function's series of successful calls bound in them.
    fn build_metrics(&self, t: &Telemetry) -> Option<CallMetrics> {
        let category = self.schema.category;
        let calls = t
            .counter(FUNCTION_CALLS, category)
            .unit("{call}")
            .description("Calls of instrumented functions, by function and outcome.")
            .attribute("function")
            .attribute("module")
            .attribute("outcome")
            .attribute("error.type")
            .build()
            .ok()?;
        let duration = t
            .histogram(FUNCTION_DURATION, category)
            .unit("s")
            .description("Duration of recorded (sampled) calls of instrumented functions.")
            .boundaries(FUNCTION_DURATION_BOUNDS.to_vec())
            .attribute("function")
            .attribute("module")
            .attribute("outcome")
            .build()
            .ok()?;
        let ok_attrs = [
            ("function", Value::Str(self.schema.name)),
            ("module", Value::Str(self.module)),
            ("outcome", Value::Str("ok")),
        ];
        let ok = calls.bind(&ok_attrs);
        let ok_duration = duration.bind(&ok_attrs);
        Some(CallMetrics {
            calls,
            ok,
            duration,
            ok_duration,
        })
    }

    /// Starts a call: checks consent (for the subject argument if given,
    /// else the current subject), then sampling. When either says no, the
    /// returned call does nothing: no span, no clock read, no argument read.
    /// The check for the current subject is inlined into the function, so a
    /// denied call is a few loads and a branch. `category` is the schema's,
    /// which the macro writes as a constant, so that the check's mask is an
    /// immediate rather than two loads through the callsite.
    #[inline(always)]
    pub fn enter(&'static self, category: Category, subject: Option<&str>) -> Option<Call> {
        let Some(id) = subject else {
            // The common case, inline: no thread default, the installed
            // instance read directly (a denied call is then its consent
            // check and a branch).
            if !Telemetry::default_may_be_set()
                && let Some(inner) = Telemetry::installed_inner()
            {
                let consented = inner.admit(category, Who::Current).ok()?;
                // Installed, so `global` is set: read only once admitted.
                let g = Telemetry::global()?;
                return Some(Call::start(self, MacroInstance::Global(g), consented));
            }
            return self.enter_current();
        };
        self.enter_subject(id)
    }

    /// [`enter`](Self::enter) for the current subject, into a thread's
    /// default instance, or with none to record into.
    #[inline(never)]
    fn enter_current(&'static self) -> Option<Call> {
        let Some(t) = Telemetry::for_macros() else {
            no_instance(self.schema.name);
            return None;
        };
        let consented = t.inner.admit(self.schema.category, Who::Current).ok()?;
        Some(Call::start(self, t, consented))
    }

    /// [`enter`](Self::enter) for a subject named by an argument.
    #[inline(never)]
    fn enter_subject(&'static self, id: &str) -> Option<Call> {
        let Some(t) = Telemetry::for_macros() else {
            no_instance(self.schema.name);
            return None;
        };
        // Consent first, on the subject's state if it is in memory: a
        // denied call opens no scope (and allocates nothing).
        let consented = t.inner.admit(self.schema.category, Who::Id(id)).ok()?;
        let context = t.subject_context(id);
        Some(Call::start_in(self, t, consented, context))
    }
}

/// A call in progress (consent allowed it; its span may be sampled out).
pub struct Call {
    site: &'static Callsite,
    telemetry: MacroInstance,
    span: Span,
    context: Option<Context>,
    /// Set by [`finish`](Self::finish); a call dropped without it panicked
    /// or was cancelled.
    finished: bool,
}

/// A call that ends without [`Call::finish`] is an outcome too: a panic
/// unwinding through the function, or its future dropped before it
/// completed (cancellation). Both end the span with an error status and
/// count in the call counter under their own `outcome`; a panic also
/// records an `exception` event of type `panic` (never the panic's
/// message: it can carry personal data).
impl Drop for Call {
    #[inline]
    fn drop(&mut self) {
        if !self.finished {
            self.unfinished();
        }
    }
}

impl Call {
    /// Ends a call dropped without [`finish`](Self::finish).
    #[cold]
    #[inline(never)]
    fn unfinished(&mut self) {
        let outcome = if std::thread::panicking() {
            Outcome::Panic
        } else {
            Outcome::Cancelled
        };
        if matches!(outcome, Outcome::Panic) {
            self.panic_event();
        }
        self.finish_outcome(outcome);
    }

    /// Starts a call about the current subject: consent was decided at
    /// entry, so sampling only. The span is made in its place in the
    /// returned call, with nothing changed after: a span made apart and
    /// moved in was read back with wider loads than it was written with,
    /// which stalled on store forwarding (`perf annotate`: two fifths of a
    /// sampled-out call's start). A recorded call's duration is measured
    /// from its span's start: no clock read of its own.
    #[inline(never)]
    fn start(site: &'static Callsite, t: MacroInstance, consented: Consented) -> Call {
        let name = || Cow::Borrowed(site.schema.name);
        Call {
            site,
            span: Span::start_admitted(&t.inner, name, site.schema.category, consented, fast_span),
            telemetry: t,
            context: None,
            finished: false,
        }
    }

    /// [`start`](Self::start) for a subject named by an argument, whose
    /// `context` the call's span is made in and carries.
    #[inline(never)]
    fn start_in(
        site: &'static Callsite,
        t: MacroInstance,
        consented: Consented,
        mut context: Context,
    ) -> Call {
        let name = || Cow::Borrowed(site.schema.name);
        let category = site.schema.category;
        let span = {
            let _g = context.clone().attach();
            Span::start_admitted(&t.inner, name, category, consented, fast_span)
        };
        context.span = span.context().or(context.span);
        Call {
            site,
            telemetry: t,
            span,
            context: Some(context),
            finished: false,
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

    /// Ends the call: the span ends (status from an `Err`), the call counter
    /// and, for a recorded span, the duration histogram get the outcome.
    #[inline]
    pub fn finish(&mut self, outcome: Outcome) {
        if self.finished {
            return;
        }
        self.finished = true;
        if matches!(outcome, Outcome::Ok) && !self.span.is_recording() {
            // A sampled-out call that succeeded only counts, in the
            // function's bound `ok` series: nothing else to build.
            match self.site.cached_metrics(&self.telemetry) {
                Some(metrics) => metrics.ok.add_admitted(1),
                None => {
                    if let Some(metrics) = self.site.metrics(&self.telemetry) {
                        metrics.ok.add_admitted(1);
                    }
                }
            }
            return;
        }
        self.finish_outcome(outcome);
    }

    #[inline(never)]
    fn finish_outcome(&mut self, outcome: Outcome) {
        let t = &*self.telemetry;
        let Some(metrics) = self.site.metrics(t) else {
            return;
        };
        let _g = self.context.clone().map(Context::attach);
        let error_type = match outcome {
            Outcome::Ok => "",
            Outcome::Err(ty) => ty,
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        };
        let schema = self.site.schema;
        let function = ("function", Value::Str(schema.name));
        let module = ("module", Value::Str(self.site.module));
        let outcome_attr = ("outcome", Value::Str(outcome.name()));
        let attrs = [
            function,
            module,
            outcome_attr,
            ("error.type", Value::Str(error_type)),
        ];
        // A recorded call links its measurements to its trace (exemplars);
        // a sampled-out one only counts, without a clock read.
        let recorded = self.span.context().filter(|_| self.span.is_recording());
        let Some(span) = recorded else {
            match outcome {
                Outcome::Ok => metrics.ok.add_admitted(1),
                _ => {
                    metrics.calls.add(1, &attrs);
                    if !self.span.has_error_status() {
                        self.span.set_error_description(error_type);
                    }
                }
            }
            return;
        };
        let clock = t.inner.clock();
        // One clock read ends both the duration and the span.
        let now = clock.mono();
        let start = self.span.start_mono().unwrap_or(now);
        // A multiply, not a divide: ~4 cycles against ~15, on the path to
        // the bucket compare (a last-bit difference in a duration).
        let secs = now.saturating_sub(start) as f64 * 1e-9;
        // Made only when a series takes it (at most one a millisecond).
        let exemplar = |value: f64| {
            move || Exemplar {
                value,
                time: clock.to_system(now),
                trace_id: span.trace_id,
                span_id: span.span_id,
            }
        };
        match outcome {
            Outcome::Ok => {
                metrics.ok.add_with_exemplar(1, now, exemplar(1.0));
                metrics
                    .ok_duration
                    .record_with_exemplar(secs, now, exemplar(secs));
            }
            _ => {
                metrics.calls.add_exemplar(1, &attrs, now, exemplar(1.0));
                if !self.span.has_error_status() {
                    self.span.set_error_description(error_type);
                }
                metrics.duration.record_exemplar(
                    secs,
                    &[function, module, outcome_attr],
                    now,
                    exemplar(secs),
                );
            }
        }
        self.span.end_at(now);
    }
}

/// The guard [`Call::enter`] returns.
pub enum CallEntered {
    /// The call's span is current.
    Span(Entered),
    /// The call's subject and span are current.
    Context(ContextGuard),
}
