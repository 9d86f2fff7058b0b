//! The [`Telemetry`] handle: the one entry point a service holds. Its
//! methods delegate to the instance's parts.
//!
//! Here: the handle, its life (the last one the service holds shuts the
//! instance down), consent and subject scopes, flushing, shutdown and the
//! instance's state. What instrumenting code records through it (events,
//! spans, metric instruments) is in [`recording`]; the global instance and
//! the per-thread default the macros record into are in [`global`].

mod global;
mod recording;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::category::{Category, CategoryNames};
use crate::consent::Consent;
use crate::consent::gate::Who;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::export::ExportError;
use crate::export::Resource;
use crate::health::drops::DropCounts;
use crate::instance::Inner;
use crate::pipeline::ShutdownReport;
use crate::privacy::KeyId;
use crate::subject::SubjectKey;
use crate::subject::context::{Context, ContextGuard};

pub use global::DefaultGuard;
pub(crate) use global::MacroInstance;

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
        crate::subject::context::with_fast_subject(self.inner.nonzero_id(), |s, _| s.map(|s| s.key))
    }

    /// Whether a record of `category` would pass consent in the current
    /// context (sampling aside). Use it to skip expensive preparation.
    #[inline]
    pub fn enabled(&self, category: Category) -> bool {
        self.inner.would_admit(category, Who::Current)
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
}
