//! The [`Telemetry`] handle: the one entry point a service holds, and the
//! shared state behind it.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use crate::builder::TelemetryBuilder;
use crate::category::{Category, CategoryNames, CategorySet};
use crate::consent::gate::Who;
use crate::consent::{Consent, ConsentRegistry};
use crate::context::{Context, ContextGuard};
use crate::drops::{DropCause, DropCounters, DropCounts};
use crate::error::{ConfigError, ConfigErrorKind, ExportError};
use crate::metrics::instrument::{InstrumentBuilder, MetricRegistry, kind};
use crate::metrics::series::Kind;
use crate::metrics::{MetricData, MetricPoints, Number, NumberPoint, Temporality};
use crate::pipeline::{Pipeline, ShutdownReport};
use crate::privacy::{KeyId, KeyRing, Limits};
use crate::record::Attribute;
use crate::resource::Resource;
use crate::sampler::CompiledSampler;
use crate::subject::SubjectKey;
use crate::value::AttrValue;

/// Wall-clock time from the monotonic clock: one `Instant::now()` per
/// timestamp, re-anchored to the system clock by the worker.
pub(crate) struct Clock {
    base: Instant,
    /// Unix nanoseconds at `base`.
    offset: AtomicU64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let c = Clock {
            base: Instant::now(),
            offset: AtomicU64::new(0),
        };
        c.reanchor();
        c
    }

    pub(crate) fn reanchor(&self) {
        let since_base = self.base.elapsed().as_nanos() as u64;
        let wall = crate::value::unix_nanos(SystemTime::now());
        self.offset
            .store(wall.saturating_sub(since_base), Ordering::Relaxed);
    }

    /// Monotonic nanoseconds since the clock was created.
    #[inline]
    pub(crate) fn mono(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Converts a monotonic reading into wall-clock time.
    #[inline]
    pub(crate) fn to_system(&self, mono: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_nanos(self.offset.load(Ordering::Relaxed).saturating_add(mono))
    }
}

/// Shared state of one telemetry instance.
pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) enabled: AtomicBool,
    pub(crate) sampler: CompiledSampler,
    pub(crate) keys: KeyRing,
    pub(crate) limits: Limits,
    pub(crate) drops: DropCounters,
    pub(crate) clock: Clock,
    pub(crate) consent: ConsentRegistry,
    pub(crate) pipeline: Pipeline,
    pub(crate) metrics: MetricRegistry,
    pub(crate) resource: Resource,
    pub(crate) names: CategoryNames,
    /// Built-in and named categories (what propagation may name to a peer).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) known: CategorySet,
    pub(crate) pipeline_config: crate::pipeline::PipelineConfig,
    /// Propagation headers ignored as malformed or oversized.
    #[cfg(feature = "http")]
    pub(crate) rejected_headers: crate::propagation::Rejections,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_instance_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl Inner {
    /// Current time in seconds on the monotonic clock (for rate limits).
    #[inline]
    pub(crate) fn now_secs(&self, mono: u64) -> u64 {
        mono / 1_000_000_000
    }

    /// Collects every instrument plus the library's own metrics.
    pub(crate) fn collect_metrics(&self) -> Vec<MetricData> {
        let mut out = self.metrics.collect();
        out.extend(self.own_metrics());
        out
    }

    fn own_metrics(&self) -> Vec<MetricData> {
        let now = SystemTime::now();
        let start = now - Duration::from_nanos(self.clock.mono());
        let name = |c: Category| AttrValue::from(self.names.name(c).into_owned());
        let point = |attributes: Vec<Attribute>, v: u64| NumberPoint {
            attributes,
            start,
            time: now,
            value: Number::I64(i64::try_from(v).unwrap_or(i64::MAX)),
        };
        let sum = |n: &'static str,
                   d: &'static str,
                   unit: &'static str,
                   points: Vec<NumberPoint>| MetricData {
            name: Cow::Borrowed(n),
            description: Cow::Borrowed(d),
            unit: Cow::Borrowed(unit),
            category: Category::TELEMETRY,
            points: MetricPoints::Sum {
                monotonic: true,
                temporality: Temporality::Cumulative,
                points,
            },
        };
        let mut out = Vec::new();
        let snapshot = self.drops.snapshot();
        let drops: Vec<NumberPoint> = snapshot
            .iter()
            .filter(|(cause, _, _)| *cause != DropCause::Anonymized)
            .map(|(cause, cat, n)| {
                point(
                    vec![
                        Attribute::new("cause", cause.as_str()),
                        Attribute::new(crate::record::keys::CATEGORY, name(cat)),
                    ],
                    n,
                )
            })
            .collect();
        if !drops.is_empty() {
            out.push(sum(
                "telemetry.records.dropped",
                "Records not exported, by cause and category.",
                "{record}",
                drops,
            ));
        }
        let withheld: Vec<NumberPoint> = snapshot
            .iter()
            .filter(|(cause, _, _)| *cause == DropCause::Anonymized)
            .map(|(_, cat, n)| {
                point(
                    vec![Attribute::new(crate::record::keys::CATEGORY, name(cat))],
                    n,
                )
            })
            .collect();
        if !withheld.is_empty() {
            out.push(sum(
                "telemetry.fields.withheld",
                "Hashed values left out of anonymous records (admitted only because their category is exempt), by category.",
                "{value}",
                withheld,
            ));
        }
        #[cfg(feature = "http")]
        {
            let rejected: Vec<NumberPoint> = self
                .rejected_headers
                .snapshot()
                .into_iter()
                .map(|(header, reason, n)| {
                    point(
                        vec![
                            Attribute::new("header", header),
                            Attribute::new("reason", reason),
                        ],
                        n,
                    )
                })
                .collect();
            if !rejected.is_empty() {
                out.push(sum(
                    "telemetry.propagation.rejected",
                    "Incoming propagation headers ignored, by header and reason.",
                    "{header}",
                    rejected,
                ));
            }
        }
        let totals = self.consent.counts.totals();
        let grants: Vec<_> = totals
            .iter()
            .filter(|t| t.1 > 0)
            .map(|(c, g, _)| {
                point(
                    vec![Attribute::new(crate::record::keys::CATEGORY, name(*c))],
                    *g,
                )
            })
            .collect();
        let revocations: Vec<_> = totals
            .iter()
            .filter(|t| t.2 > 0)
            .map(|(c, _, r)| {
                point(
                    vec![Attribute::new(crate::record::keys::CATEGORY, name(*c))],
                    *r,
                )
            })
            .collect();
        if !grants.is_empty() {
            out.push(sum(
                "telemetry.consent.grants",
                "Consent grants, per category. Identifies no subject.",
                "{grant}",
                grants,
            ));
        }
        if !revocations.is_empty() {
            out.push(sum(
                "telemetry.consent.revocations",
                "Consent revocations, per category. Identifies no subject.",
                "{revocation}",
                revocations,
            ));
        }
        // Process-wide counts, reported by the installed instance (or by
        // every instance when none is installed).
        let process_wide = match GLOBAL.get() {
            Some(g) => g.inner.id == self.id,
            None => true,
        };
        if process_wide {
            let misuse: Vec<NumberPoint> = crate::context::Misuse::ALL
                .iter()
                .filter(|m| m.total() > 0)
                .map(|m| point(vec![Attribute::new("kind", m.as_str())], m.total()))
                .collect();
            if !misuse.is_empty() {
                out.push(sum(
                    "telemetry.context.misuse",
                    "Context guards misused: dropped out of order, or held open across an .await.",
                    "{guard}",
                    misuse,
                ));
            }
            let without = crate::__private::CALLS_WITHOUT_INSTANCE.load(Ordering::Relaxed);
            if without > 0 {
                out.push(sum(
                    "telemetry.calls.without_instance",
                    "Calls of #[instrument_event] functions that found no telemetry instance (before install).",
                    "{call}",
                    vec![point(vec![], without)],
                ));
            }
        }
        // Coverage as counts that add up across replicas (the fleet ratio
        // is the sum of subjects allowing over the sum of subjects seen).
        let cov = self.consent.coverage.snapshot();
        if cov.subjects_seen > 0 {
            let period_start = SystemTime::UNIX_EPOCH + Duration::from_secs(cov.period_start_secs);
            let gauge = |n: &'static str,
                         d: &'static str,
                         unit: &'static str,
                         points: Vec<NumberPoint>| MetricData {
                name: Cow::Borrowed(n),
                description: Cow::Borrowed(d),
                unit: Cow::Borrowed(unit),
                category: Category::TELEMETRY,
                points: MetricPoints::Gauge { points },
            };
            let count = |attributes: Vec<Attribute>, n: u64| NumberPoint {
                attributes,
                start: period_start,
                time: now,
                value: Number::I64(i64::try_from(n).unwrap_or(i64::MAX)),
            };
            out.push(gauge(
                "telemetry.consent.subjects_seen",
                "Distinct subjects seen in the current coverage period (estimated; identifies no subject).",
                "{subject}",
                vec![count(vec![], cov.subjects_seen)],
            ));
            let allowing = cov
                .consenting
                .iter()
                .map(|(c, n)| {
                    count(
                        vec![Attribute::new(crate::record::keys::CATEGORY, name(*c))],
                        *n,
                    )
                })
                .collect();
            out.push(gauge(
                "telemetry.consent.subjects_allowing",
                "Distinct subjects seen in the current coverage period while allowing the category (estimated).",
                "{subject}",
                allowing,
            ));
        }
        out
    }
}

/// Shuts the instance down when the last handle the service holds goes
/// away (bounded by five seconds), so what is buffered is exported rather
/// than lost. The export worker holds the instance itself, so it is still
/// there to do the work.
struct Life(Weak<Inner>);

impl Drop for Life {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade()
            && !inner.pipeline.is_shut_down()
        {
            inner.enabled.store(false, Ordering::SeqCst);
            inner.pipeline.shutdown(&inner, Duration::from_secs(5));
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
            .field("service", &self.inner.resource.service_name())
            .field("enabled", &self.inner.enabled.load(Ordering::Relaxed))
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
    #[cfg(feature = "process-metrics")]
    pub(crate) fn internal(inner: Arc<Inner>) -> Telemetry {
        Telemetry { inner, _life: None }
    }

    /// Starts configuring a telemetry instance.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::new()
    }

    /// The globally installed instance, if any (see
    /// [`TelemetryBuilder::install`]).
    #[inline]
    pub fn global() -> Option<&'static Telemetry> {
        GLOBAL.get()
    }

    /// Makes this instance the one `#[instrument_event]` functions record
    /// into on this thread until the guard drops, whatever is installed
    /// globally: for tests, which build an instance per test with
    /// [`build`](TelemetryBuilder::build). Guards nest. In async tests, use
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
    ) -> crate::future::WithContext<F> {
        self.subject_context(subject).wrap(future)
    }

    /// The current context with `subject` as its subject, not attached: for
    /// `ctx.wrap(future)` or handing to another thread.
    pub fn subject_context(&self, subject: &str) -> Context {
        let key = self.inner.consent.key_of(subject);
        let handle = self.inner.consent.acquire(key);
        let mut ctx = Context::current();
        ctx.subject = Some(handle);
        ctx
    }

    /// The pseudonymous key of the current subject, if a scope is open.
    pub fn current_subject(&self) -> Option<SubjectKey> {
        crate::context::with_fast_subject(self.inner.id, |s, _| s.map(|s| s.key))
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
        InstrumentBuilder::new(self, name.into(), category, Kind::Counter)
    }

    /// Starts a counter of fractional amounts (monotonic sum of `f64`).
    pub fn float_counter(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::FloatCounter> {
        InstrumentBuilder::new(self, name.into(), category, Kind::FloatCounter)
    }

    /// Starts an up-down counter.
    pub fn up_down_counter(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::UpDownCounter> {
        InstrumentBuilder::new(self, name.into(), category, Kind::UpDownCounter)
    }

    /// Starts a gauge.
    pub fn gauge(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::Gauge> {
        InstrumentBuilder::new(self, name.into(), category, Kind::Gauge)
    }

    /// Starts a histogram with explicit bucket boundaries.
    pub fn histogram(
        &self,
        name: impl Into<Cow<'static, str>>,
        category: Category,
    ) -> InstrumentBuilder<'_, kind::Histogram> {
        InstrumentBuilder::new(self, name.into(), category, Kind::Histogram)
    }

    /// Exports everything buffered now (records and metrics) and waits for
    /// it, at most the export timeout
    /// ([`TelemetryBuilder::export_timeout`], 10 s by default).
    pub fn force_flush(&self) -> Result<(), ExportError> {
        self.force_flush_within(self.inner.pipeline_config.export_timeout)
    }

    /// Exports everything buffered now and waits for it, at most `timeout`:
    /// when a collector is down or hung, this returns a timeout error by
    /// then, whatever the exporter does.
    pub fn force_flush_within(&self, timeout: Duration) -> Result<(), ExportError> {
        self.inner.pipeline.force_flush(timeout)
    }

    /// Stops recording, exports everything still buffered and shuts the
    /// exporters down, within `timeout`: it returns by then whatever the
    /// exporters do (a collector that is down or never answers), and the
    /// report says what could not be delivered. Records made after this
    /// are dropped with cause `disabled`. Calling it twice is harmless.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        self.inner.enabled.store(false, Ordering::SeqCst);
        self.inner.pipeline.shutdown(&self.inner, timeout)
    }

    /// Records dropped so far, by cause and category.
    pub fn drops(&self) -> DropCounts {
        self.inner.drops.snapshot()
    }

    /// Records waiting in the export queue.
    pub fn queued(&self) -> usize {
        self.inner.pipeline.queue_len()
    }

    /// The resource records are attributed to.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The category names (built-in and service-defined).
    pub fn categories(&self) -> &CategoryNames {
        &self.inner.names
    }

    /// Makes `id` the hash key for new values (it must have been configured
    /// with [`TelemetryBuilder::hash_key`]).
    pub fn rotate_hash_key(&self, id: KeyId) -> Result<(), ConfigError> {
        if self.inner.keys.rotate_to(id) {
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
}
