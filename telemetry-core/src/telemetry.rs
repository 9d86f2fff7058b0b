//! The [`Telemetry`] handle: the one entry point a service holds. Its
//! methods delegate to the instance's parts.

use crate::instance::Inner;
use std::borrow::Cow;

use crate::event::builder::{EventBuilder, default_severity};
use crate::event::schema::{EventSchema, FieldVisitor, TelemetryEvent};
use crate::export::Severity;
use crate::subject::context::fast_span;
use crate::trace::span::Span;
use crate::trace::{SpanDecision, TraceId};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use crate::category::{Category, CategoryNames};
use crate::consent::Consent;
use crate::consent::gate::Who;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::export::ExportError;
use crate::export::Resource;
use crate::health::drops::DropCounts;
use crate::metrics::instrument::{InstrumentBuilder, kind};
use crate::metrics::series::Kind;
use crate::pipeline::ShutdownReport;
use crate::privacy::KeyId;
use crate::subject::SubjectKey;
use crate::subject::context::{Context, ContextGuard};

/// Shuts the instance down when the last handle the service holds goes
/// away (bounded by five seconds), so what is buffered is exported rather
/// than lost. The export worker holds the instance itself, so it is still
/// there to do the work.
struct Life(Weak<Inner>);

impl Drop for Life {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade()
            && !inner.pipeline().is_shut_down()
        {
            inner.enabled().store(false, Ordering::SeqCst);
            inner.pipeline().shutdown(&*inner, Duration::from_secs(5));
            crate::consent::fleet::stop(&inner);
        }
    }
}

/// A telemetry instance: consent, sampling, privacy and export for one
/// service. Cheap to clone; every clone is the same instance.
///
/// ```
/// use telemetry_core::*;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let telemetry = Telemetry::builder()
///     .service("checkout", "1.4.2")
///     .consent(ConsentPolicy::opt_in().require(Category::BUSINESS).exempt(Category::PERFORMANCE))
///     .hash_key(KeyId(1), b"32 bytes of secret key material!")
///     .build()?;
/// telemetry.consent().grant("user-42", Category::BUSINESS)?;
/// let _scope = telemetry.subject("user-42");
/// telemetry
///     .event("checkout.cart_viewed", Category::BUSINESS)
///     .public("items", 3u64)
///     .emit();
/// telemetry.shutdown(std::time::Duration::from_secs(5));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Telemetry {
    pub(crate) inner: Arc<Inner>,
    /// Shared by the handles the service holds; `None` for the library's
    /// own short-lived handles, which must not keep the instance running.
    _life: Option<Arc<Life>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("service", &self.inner.resource().service_name())
            .field("enabled", &self.inner.enabled().load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Telemetry> = OnceLock::new();

thread_local! {
    /// This thread's default instance for the macros (see `set_default`).
    static DEFAULT: std::cell::RefCell<Option<Telemetry>> = const { std::cell::RefCell::new(None) };
    /// Whether `DEFAULT` may hold an instance: a plain flag the macros'
    /// fast path reads before touching the `RefCell`.
    static DEFAULT_SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The instance a macro call records into.
pub(crate) enum MacroInstance {
    /// The installed one.
    Global(&'static Telemetry),
    /// A thread's default (tests).
    Scoped(Telemetry),
}

impl std::ops::Deref for MacroInstance {
    type Target = Telemetry;
    #[inline]
    fn deref(&self) -> &Telemetry {
        match self {
            MacroInstance::Global(t) => t,
            MacroInstance::Scoped(t) => t,
        }
    }
}

/// Restores the previous default instance when dropped. Not `Send`.
#[must_use = "the instance is the default only while the guard lives"]
pub struct DefaultGuard {
    previous: Option<Telemetry>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for DefaultGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let set = previous.is_some();
        let _ = DEFAULT.try_with(|d| d.replace(previous));
        let _ = DEFAULT_SET.try_with(|f| f.set(set));
    }
}

impl std::fmt::Debug for DefaultGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DefaultGuard")
    }
}

impl Telemetry {
    /// A handle for the service: when the last one goes, the instance shuts
    /// down.
    pub(crate) fn owning(inner: Arc<Inner>) -> Telemetry {
        let life = Arc::new(Life(Arc::downgrade(&inner)));
        Telemetry {
            inner,
            _life: Some(life),
        }
    }

    /// A handle for the library's own use (a collector thread building
    /// instruments): it does not keep the instance running.
    pub(crate) fn internal(inner: Arc<Inner>) -> Telemetry {
        Telemetry { inner, _life: None }
    }

    /// The globally installed instance, if any (see
    /// [`TelemetryBuilder::install`](crate::TelemetryBuilder::install)).
    #[inline]
    pub fn global() -> Option<&'static Telemetry> {
        GLOBAL.get()
    }

    /// Makes this instance the one `#[instrument_event]` functions record
    /// into on this thread until the guard drops, whatever is installed
    /// globally: for tests, which build an instance per test with
    /// [`build`](crate::TelemetryBuilder::build). Guards nest. In async tests, use
    /// a current-thread runtime (`#[tokio::test]`'s default), so the
    /// futures run on the thread that set it.
    pub fn set_default(&self) -> DefaultGuard {
        let previous = DEFAULT.with(|d| d.replace(Some(self.clone())));
        DEFAULT_SET.with(|f| f.set(true));
        DefaultGuard {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// The instance the macros record into here: this thread's default
    /// ([`set_default`](Self::set_default)), else the global one.
    #[inline]
    pub(crate) fn for_macros() -> Option<MacroInstance> {
        if DEFAULT_SET.with(std::cell::Cell::get)
            && let Some(t) = DEFAULT.with(|d| d.borrow().clone())
        {
            return Some(MacroInstance::Scoped(t));
        }
        GLOBAL.get().map(MacroInstance::Global)
    }

    pub(crate) fn install_global(&self) -> Result<(), ConfigError> {
        GLOBAL.set(self.clone()).map_err(|_| {
            ConfigError::new(
                ConfigErrorKind::AlreadyInstalled,
                "a telemetry instance is already installed for this process; install once in \
                 `main`, or use `.build()` for an instance that is not global",
            )
        })
    }

    /// Consent: grant, revoke, inspect, audit.
    pub fn consent(&self) -> Consent<'_> {
        Consent { inner: &self.inner }
    }

    /// Opens a subject scope for synchronous code: until the guard is
    /// dropped, records made on this thread obey `subject`'s consent and are
    /// attributed to its pseudonymous key. The raw id is hashed at once and
    /// not kept.
    ///
    /// **Not across `.await`:** a guard held while a future is suspended
    /// leaks the subject into whatever else runs on the thread (the other
    /// branch of a `join!`, another task). In async code use
    /// [`in_subject`](Self::in_subject), which sets the scope on every poll
    /// of one future only. Misuse that can be seen (a guard dropped out of
    /// order, or still open when a wrapped future suspends) is counted in
    /// `telemetry.context.misuse`. Clippy can flag it at compile time:
    /// `await-holding-invalid-types = ["telemetry_core::ContextGuard"]` in
    /// `clippy.toml`.
    pub fn subject(&self, subject: &str) -> ContextGuard {
        self.subject_context(subject).attach()
    }

    /// Runs `future` in `subject`'s scope: the scope is set on every poll of
    /// this future and of nothing else, on whatever thread polls it. The
    /// safe way to open a subject scope in async code.
    ///
    /// ```
    /// # use telemetry_core::*;
    /// # let telemetry = Telemetry::builder().service("s", "1").build().unwrap();
    /// # async fn handle() {}
    /// let work = telemetry.in_subject("user-42", async {
    ///     handle().await; // records in here obey user-42's consent
    /// });
    /// # drop(work);
    /// ```
    pub fn in_subject<F: std::future::Future>(
        &self,
        subject: &str,
        future: F,
    ) -> crate::subject::future::WithContext<F> {
        self.subject_context(subject).wrap(future)
    }

    /// The current context with `subject` as its subject, not attached: for
    /// `ctx.wrap(future)` or handing to another thread.
    pub fn subject_context(&self, subject: &str) -> Context {
        let key = self.inner.consent().key_of(subject);
        let handle = self.inner.consent().acquire(key);
        let mut ctx = Context::current();
        ctx.subject = Some(handle);
        ctx
    }

    /// The pseudonymous key of the current subject, if a scope is open.
    pub fn current_subject(&self) -> Option<SubjectKey> {
        crate::subject::context::with_fast_subject(self.inner.id(), |s, _| s.map(|s| s.key))
    }

    /// Whether a record of `category` would pass consent in the current
    /// context (sampling aside). Use it to skip expensive preparation.
    #[inline]
    pub fn enabled(&self, category: Category) -> bool {
        self.inner.would_admit(category, Who::Current)
    }

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

    /// Exports everything buffered now (records and metrics) and waits for
    /// it, at most the export timeout
    /// ([`TelemetryBuilder::export_timeout`](crate::TelemetryBuilder::export_timeout), 10 s by default).
    pub fn force_flush(&self) -> Result<(), ExportError> {
        self.force_flush_within(self.inner.pipeline_config().export_timeout)
    }

    /// Exports everything buffered now and waits for it, at most `timeout`:
    /// when a collector is down or hung, this returns a timeout error by
    /// then, whatever the exporter does.
    pub fn force_flush_within(&self, timeout: Duration) -> Result<(), ExportError> {
        self.inner.pipeline().force_flush(timeout)
    }

    /// Stops recording, exports everything still buffered and shuts the
    /// exporters down, within `timeout`: it returns by then whatever the
    /// exporters do (a collector that is down or never answers), and the
    /// report says what could not be delivered. Records made after this
    /// are dropped with cause `disabled`. Calling it twice is harmless.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        self.inner.enabled().store(false, Ordering::SeqCst);
        let report = self.inner.pipeline().shutdown(&*self.inner, timeout);
        crate::consent::fleet::stop(&self.inner);
        report
    }

    /// Records dropped so far, by cause and category.
    pub fn drops(&self) -> DropCounts {
        self.inner.drops().snapshot()
    }

    /// Every cumulative metric as it is now, the library's own included,
    /// for a pull exporter such as a Prometheus endpoint. It only reads:
    /// call it on every scrape, from any thread, while the push exporters
    /// go on. Instruments with delta temporality are left out (reading them
    /// would reset them under the push exporters); only values that consent
    /// admitted were ever recorded, so nothing here needs filtering again.
    pub fn metrics_snapshot(&self) -> Vec<crate::export::MetricData> {
        self.inner.metrics_snapshot()
    }

    /// Records waiting in the export queue.
    pub fn queued(&self) -> usize {
        self.inner.pipeline().queue_len()
    }

    /// The pipeline's counts now: queued, exported, failed exports and
    /// drops by cause, for a health or debug endpoint.
    pub fn stats(&self) -> crate::pipeline::TelemetryStats {
        let pipeline = self.inner.pipeline();
        crate::pipeline::TelemetryStats {
            queued: pipeline.queue_len(),
            exported: pipeline.stats.exported.load(Ordering::Relaxed),
            export_errors: pipeline.stats.errors.load(Ordering::Relaxed),
            dropped: self.drops(),
        }
    }

    /// The resource records are attributed to.
    pub fn resource(&self) -> &Resource {
        self.inner.resource()
    }

    /// The category names (built-in and service-defined).
    pub fn categories(&self) -> &CategoryNames {
        self.inner.names()
    }

    /// Makes `id` the hash key for new values (it must have been configured
    /// with [`TelemetryBuilder::hash_key`](crate::TelemetryBuilder::hash_key)).
    pub fn rotate_hash_key(&self, id: KeyId) -> Result<(), ConfigError> {
        if self.inner.keys().rotate_to(id) {
            Ok(())
        } else {
            Err(ConfigError::new(
                ConfigErrorKind::InvalidKey,
                format!(
                    "hash key {id} is not configured; add it with .hash_key(KeyId({id}), ..) before rotating to it"
                ),
            ))
        }
    }

    /// Records a typed event, if the subject consented to its category and
    /// the sampler keeps it. The event's fields are read only after both
    /// said yes, and only as their classes allow.
    #[inline]
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
