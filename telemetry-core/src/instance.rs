//! The shared state of one telemetry instance, behind the [`Telemetry`]
//! handle: what every record path reads (the gate, the privacy transforms,
//! the pipeline) and what the export worker holds.
//!
//! [`Telemetry`]: crate::Telemetry

use crate::clock::Clock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::category::{CategoryNames, CategorySet};
use crate::consent::ConsentRegistry;
use crate::export::MetricData;
use crate::export::Resource;
use crate::health::drops::DropCounters;
use crate::metrics::registry::MetricRegistry;
use crate::pipeline::Pipeline;
use crate::privacy::{KeyRing, Limits};
use crate::sampler::CompiledSampler;

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
    pub(crate) known: CategorySet,
    pub(crate) pipeline_config: crate::pipeline::PipelineConfig,
    /// Propagation headers ignored as malformed or oversized.
    pub(crate) rejected_headers: crate::health::rejections::Rejections,
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
}
