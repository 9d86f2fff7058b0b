//! The shared state of one telemetry instance, behind the [`Telemetry`]
//! handle: what every record path reads (the gate, the privacy transforms,
//! the pipeline) and what the export worker holds.
//!
//! [`Telemetry`]: crate::Telemetry

use crate::clock::Clock;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::category::{Category, CategoryNames, CategorySet};
use crate::consent::ConsentRegistry;
use crate::export::MetricData;
use crate::export::Resource;
use crate::export::SubjectKey;
use crate::health::DropCause;
use crate::health::drops::DropCounters;
use crate::health::own_metrics::OwnMetrics;
use crate::metrics::registry::MetricRegistry;
use crate::pipeline::Pipeline;
use crate::privacy::{KeyRing, Limits};
use crate::sampler::CompiledSampler;

/// Shared state of one telemetry instance. Its parts are private: the
/// record paths read them through the accessors below, and only
/// [`Inner::new`] puts an instance together.
pub(crate) struct Inner {
    /// Aligns the instance to a cache line, so that in its `Arc` the
    /// fields start on the line after the reference counts, which every
    /// span of a built instance changes.
    _counts_apart: CountsApart,
    enabled: AtomicBool,
    sampler: CompiledSampler,
    keys: KeyRing,
    limits: Limits,
    drops: DropCounters,
    clock: Clock,
    consent: ConsentRegistry,
    pipeline: Pipeline,
    metrics: MetricRegistry,
    resource: Resource,
    names: CategoryNames,
    known: CategorySet,
    pipeline_config: crate::pipeline::PipelineConfig,
    rejected_headers: crate::health::rejections::Rejections,
    /// Where a span with no library parent looks for one (see
    /// `TelemetryBuilder::external_parent`).
    external_parent: Option<fn() -> Option<crate::trace::SpanContext>>,
}

/// The parts of an instance, as the builder assembles them.
pub(crate) struct Parts {
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
    pub(crate) known: CategorySet,
    pub(crate) pipeline_config: crate::pipeline::PipelineConfig,
    pub(crate) rejected_headers: crate::health::rejections::Rejections,
    pub(crate) external_parent: Option<fn() -> Option<crate::trace::SpanContext>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The bit of an instance id that says its consent store is shared.
const SHARED_STORE_BIT: u64 = 1 << 63;

/// A new instance number: 1, 2, ... Never 0, which the thread-local
/// mirrors hold when they point nowhere. Its top bit says whether the
/// instance's consent store is `shared` (see [`Inner::shared_store`]);
/// the count, in the bits below it, never reaches that bit.
pub(crate) fn next_instance_id(shared: bool) -> NonZeroU64 {
    // 1 ..= 2^63 - 1.
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed) % (SHARED_STORE_BIT - 1) + 1;
    let id = if shared { n | SHARED_STORE_BIT } else { n };
    NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN)
}

/// A field of no size aligned to a cache line: it gives the instance that
/// alignment, and the `Arc` then puts the instance 64 bytes after its
/// counts (wherever the field itself lands).
#[derive(Copy, Clone)]
#[repr(align(64))]
struct CountsApart;

impl Inner {
    /// Puts an instance together from its parts.
    pub(crate) fn new(parts: Parts) -> Self {
        let Parts {
            enabled,
            sampler,
            keys,
            limits,
            drops,
            clock,
            consent,
            pipeline,
            metrics,
            resource,
            names,
            known,
            pipeline_config,
            rejected_headers,
            external_parent,
        } = parts;
        Inner {
            _counts_apart: CountsApart,
            enabled,
            sampler,
            keys,
            limits,
            drops,
            clock,
            consent,
            pipeline,
            metrics,
            resource,
            names,
            known,
            pipeline_config,
            rejected_headers,
            external_parent,
        }
    }

    /// The parent a span with no library parent takes from another
    /// tracing system, if one is configured and has a current span.
    #[inline]
    pub(crate) fn external_parent(&self) -> Option<crate::trace::SpanContext> {
        self.external_parent.and_then(|f| f())
    }

    /// This instance's number (subject states and drop shards belong to one).
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.nonzero_id().get()
    }

    /// [`id`](Self::id), as the type that says it is never 0. It is kept
    /// once, in the drop counters: a refusal compares the thread's current
    /// subject with it and then the thread's drop shard, and with one field
    /// the compiler loads it once for both.
    #[inline]
    pub(crate) fn nonzero_id(&self) -> NonZeroU64 {
        self.drops.id()
    }

    /// Whether consent comes from a shared store (a refusal then tells
    /// `unconfirmed` from `consent`), read from the id's top bit: a
    /// refusal has the id in a register already (it compared the thread's
    /// current subject with it), so this costs no load, where the
    /// registry's flag was one more load in every refused record.
    #[inline]
    pub(crate) fn shared_store(&self) -> bool {
        let shared = self.id() & SHARED_STORE_BIT != 0;
        debug_assert_eq!(shared, self.consent.shared);
        shared
    }

    /// Whether recording is on.
    #[inline]
    pub(crate) fn enabled(&self) -> &AtomicBool {
        &self.enabled
    }

    /// The compiled sampler.
    #[inline]
    pub(crate) fn sampler(&self) -> &CompiledSampler {
        &self.sampler
    }

    /// The hash keys.
    #[inline]
    pub(crate) fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// What a record may hold.
    #[inline]
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Drop counters.
    #[inline]
    pub(crate) fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// The timestamp clock.
    #[inline]
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The consent registry.
    #[inline]
    pub(crate) fn consent(&self) -> &ConsentRegistry {
        &self.consent
    }

    /// The export pipeline.
    #[inline]
    pub(crate) fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Every instrument.
    #[inline]
    pub(crate) fn metrics(&self) -> &MetricRegistry {
        &self.metrics
    }

    /// The resource records come from.
    #[inline]
    pub(crate) fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The category names.
    #[inline]
    pub(crate) fn names(&self) -> &CategoryNames {
        &self.names
    }

    /// Built-in and named categories (what propagation may name to a peer).
    #[inline]
    pub(crate) fn known(&self) -> CategorySet {
        self.known
    }

    /// The pipeline's timing and sizing.
    #[inline]
    pub(crate) fn pipeline_config(&self) -> crate::pipeline::PipelineConfig {
        self.pipeline_config
    }

    /// Propagation fields ignored as malformed or oversized.
    #[inline]
    pub(crate) fn rejected_headers(&self) -> &crate::health::rejections::Rejections {
        &self.rejected_headers
    }

    /// Current time in seconds on the monotonic clock (for rate limits).
    #[inline]
    pub(crate) fn now_secs(&self, mono: u64) -> u64 {
        mono / 1_000_000_000
    }

    /// Collects every instrument plus the library's own metrics.
    pub(crate) fn collect_metrics(&self) -> Vec<MetricData> {
        let mut out = self.metrics.collect();
        out.extend(self.own_metrics(false));
        out
    }

    /// The library's own metrics, each part reporting its own.
    /// `for_scrape`: see [`OwnMetrics::new`].
    fn own_metrics(&self, for_scrape: bool) -> Vec<MetricData> {
        let uptime = std::time::Duration::from_nanos(self.clock().mono());
        let mut out = OwnMetrics::new(self.names(), uptime, for_scrape);
        out.drops(&self.drops().snapshot(), self.known());
        out.rejections(self.rejected_headers());
        self.consent().report(&mut out);
        self.pipeline().stats.report(&mut out);
        // Process-wide counts, reported by the installed instance (or by
        // every instance when none is installed).
        let process_wide = crate::Telemetry::global().is_none_or(|g| g.inner.id() == self.id());
        if process_wide {
            crate::subject::context::report_misuse(&mut out);
            crate::macro_support::report_calls_without_instance(&mut out);
        }
        out.finish()
    }

    pub(crate) fn metrics_snapshot(&self) -> Vec<MetricData> {
        let mut out = self.metrics.snapshot();
        out.extend(self.own_metrics(true));
        out
    }
}

impl crate::pipeline::Host for Inner {
    fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    fn export_check(
        &self,
        subject: Option<SubjectKey>,
        category: Category,
        version: u64,
    ) -> Result<(), DropCause> {
        self.consent.export_check(subject, category, version)
    }

    fn delivered(&self, outbox: u64) {
        if let Some(view) = self.consent.fleet() {
            view.store()
                .delivered(crate::consent::shared::OutboxId(outbox));
        }
    }

    fn count_drop(&self, cause: DropCause, category: Category, n: u64) {
        self.drops.count(cause, category, n);
    }

    fn resource(&self) -> &Resource {
        &self.resource
    }

    fn categories(&self) -> &CategoryNames {
        &self.names
    }

    fn collect_metrics(&self) -> Vec<MetricData> {
        Inner::collect_metrics(self)
    }

    fn maintain(&self, thorough: bool) {
        self.clock.reanchor();
        if thorough {
            self.consent.evict_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id's top bit says whether the instance's consent store is
    /// shared, and the bits below it still tell instances apart.
    #[test]
    fn an_id_says_whether_its_store_is_shared() {
        let (local, shared) = (next_instance_id(false), next_instance_id(true));
        assert_eq!(local.get() & SHARED_STORE_BIT, 0);
        assert_ne!(shared.get() & SHARED_STORE_BIT, 0);
        assert_ne!(local.get(), shared.get() & !SHARED_STORE_BIT);
    }

    /// A built instance reads the kind of its store from its id, and its
    /// drop counters carry the same id as its subject states.
    #[cfg(feature = "testing")]
    #[test]
    fn a_built_instance_knows_its_store_from_its_id() {
        use crate::privacy::KeyId;
        let local = crate::Telemetry::builder()
            .service("local", "1")
            .build()
            .expect("local");
        let shared = crate::Telemetry::builder()
            .service("shared", "1")
            .hash_key(KeyId(1), b"0123456789abcdef0123456789abcdef")
            .shared_consent_store(crate::testing::SharedMemoryStore::new())
            .build()
            .expect("shared");
        for (t, is_shared) in [(&local, false), (&shared, true)] {
            assert_eq!(t.inner.shared_store(), is_shared);
            assert_eq!(t.inner.consent().shared, is_shared);
            assert_eq!(t.inner.id(), t.inner.drops().id().get());
        }
    }
}
