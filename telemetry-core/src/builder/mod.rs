//! [`TelemetryBuilder`]: configuration in code, read with the environment
//! ([`environment`]) and validated when the instance is built ([`build`]).

mod build;
mod detect;
mod environment;

use std::time::Duration;

use crate::category::Category;
use crate::consent::{ConsentStore, SharedConsentStore, policy::ConsentPolicy};
use crate::event::EventSchema;
use crate::export::Exporter;
use crate::pipeline::PipelineConfig;
use crate::privacy::{KeyId, Limits};
use crate::sampler::Sampler;
use crate::trace::SpanContext;
use crate::value::AttrValue;

/// The default [`TelemetryBuilder::buffer_capacity`], sized from the file
/// throughput benchmark's burst of a million events (see the README).
const DEFAULT_BUFFER_CAPACITY: usize = 262_144;

pub use environment::Environment;

/// Configures a [`Telemetry`](crate::Telemetry) instance. Every problem is reported by
/// [`build`](Self::build) (or [`install`](Self::install)) as a
/// [`ConfigError`](crate::ConfigError) that says what is wrong and how to fix it.
///
/// Environment: `DO_NOT_TRACK=1` denies every category that requires
/// consent, and `OTEL_SDK_DISABLED=true` turns all recording and export off,
/// unless the code opts out with [`honor_do_not_track(false)`](Self::honor_do_not_track)
/// or [`honor_sdk_disabled(false)`](Self::honor_sdk_disabled).
/// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` override the service
/// name and resource attributes set in code, unless
/// [`resource_code_wins`](Self::resource_code_wins).
#[must_use = "call .build() or .install()"]
pub struct TelemetryBuilder {
    service: Option<(String, String)>,
    environment: Option<String>,
    resource: Vec<(String, AttrValue)>,
    detect_host: bool,
    detect_container: bool,
    policy: ConsentPolicy,
    sampler: Sampler,
    keys: Vec<(KeyId, Vec<u8>)>,
    subject_key: Option<Vec<u8>>,
    limits: Limits,
    exporters: Vec<Box<dyn Exporter>>,
    store: Option<Box<dyn ConsentStore>>,
    shared_store: Option<Box<dyn SharedConsentStore>>,
    max_staleness: Duration,
    consent_cache: usize,
    categories: Vec<(Category, String)>,
    events: Vec<&'static EventSchema>,
    pipeline: PipelineConfig,
    /// Whether code set the sampler or the metric interval (they then win
    /// over `OTEL_TRACES_SAMPLER` and `OTEL_METRIC_EXPORT_INTERVAL`).
    sampler_set: bool,
    metric_interval_set: bool,
    /// Where export-failure warnings go (`None`: off) and how often.
    export_warnings: (Option<crate::pipeline::WarningSink>, Duration),
    audit_capacity: usize,
    coverage_period: Duration,
    env: Environment,
    honor_dnt: bool,
    honor_sdk_disabled: bool,
    resource_code_wins: bool,
    external_parent: Option<fn() -> Option<SpanContext>>,
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never show key material.
        f.debug_struct("TelemetryBuilder")
            .field("service", &self.service)
            .field("policy", &self.policy)
            .field("sampler", &self.sampler)
            .field(
                "keys",
                &self.keys.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .field("exporters", &self.exporters.len())
            .finish_non_exhaustive()
    }
}

impl crate::Telemetry {
    /// Starts configuring a telemetry instance.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::new()
    }
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TelemetryBuilder {
    /// A builder with defaults: opt-in consent for every category, keep
    /// everything that consent allows, default limits, no exporter.
    pub fn new() -> Self {
        TelemetryBuilder {
            service: None,
            environment: None,
            resource: Vec::new(),
            detect_host: false,
            detect_container: false,
            policy: ConsentPolicy::default(),
            sampler: Sampler::default(),
            keys: Vec::new(),
            subject_key: None,
            limits: Limits::default(),
            exporters: Vec::new(),
            store: None,
            shared_store: None,
            max_staleness: Duration::from_secs(2),
            consent_cache: 100_000,
            categories: Vec::new(),
            events: Vec::new(),
            pipeline: PipelineConfig {
                queue_capacity: 16_384,
                buffer_capacity: DEFAULT_BUFFER_CAPACITY,
                batch_size: 512,
                flush_interval: Duration::from_secs(1),
                metric_interval: Duration::from_secs(10),
                export_timeout: Duration::from_secs(10),
                wait_when_full: [0; Category::COUNT],
            },
            sampler_set: false,
            metric_interval_set: false,
            export_warnings: (
                Some(crate::pipeline::stderr_sink()),
                Duration::from_secs(60),
            ),
            audit_capacity: 10_000,
            coverage_period: Duration::from_secs(3600),
            external_parent: None,
            env: Environment::process(),
            honor_dnt: true,
            honor_sdk_disabled: true,
            resource_code_wins: false,
        }
    }

    /// The service's name and version (`service.name`, `service.version`).
    pub fn service(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.service = Some((name.into(), version.into()));
        self
    }

    /// The deployment environment (`deployment.environment.name`), e.g. `production`.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Another resource attribute (semantic-convention key), e.g. `("cloud.region", "eu-west-1")`.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource
            .push((key.into(), AttrValue::from(value.into())));
        self
    }

    /// A resource attribute of any OpenTelemetry scalar type: an integer, a
    /// float, a boolean or text, e.g. `("host.cpu.count", 8_i64)`. Exported
    /// with its type (an OTLP int, double or bool), not as text.
    pub fn resource_value(mut self, key: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Adds `host.name` (the kernel's host name) and `host.arch` (`amd64`,
    /// `arm64`, …) to the resource, unless they are set otherwise.
    pub fn detect_host(mut self) -> Self {
        self.detect_host = true;
        self
    }

    /// Adds `container.id` to the resource when the process runs in a
    /// container (Docker, containerd, CRI-O, Podman; read from
    /// `/proc/self/cgroup` and `/proc/self/mountinfo`), unless it is set
    /// otherwise. Outside a container, or where those files say nothing
    /// recognisable, nothing is added.
    pub fn detect_container(mut self) -> Self {
        self.detect_container = true;
        self
    }

    /// The consent policy.
    pub fn consent(mut self, policy: ConsentPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where consent choices are persisted (default: in memory only). For
    /// several processes, use
    /// [`shared_consent_store`](Self::shared_consent_store) instead.
    pub fn consent_store(mut self, store: impl ConsentStore) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// A consent store several processes (the replicas of a service) share,
    /// such as `telemetry_consent_postgres::PostgresConsentStore`: the
    /// system of record, which this process caches (see
    /// [`consent::shared`](crate::consent::shared)). `build` starts it and
    /// fails if it cannot.
    pub fn shared_consent_store(mut self, store: impl SharedConsentStore) -> Self {
        self.shared_store = Some(Box::new(store));
        self
    }

    /// With a shared consent store: how old this process's view of it may
    /// get before every category that requires consent is refused here
    /// (default 2 s, at least 100 ms). A change committed by one process
    /// is in force on every other one within this bound, or that process
    /// refuses the categories it could concern.
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// With a shared consent store: how many subjects this process caches
    /// (default 100,000; about 200 bytes each). When the cache is full,
    /// subjects without an open scope that were not seen for the flush
    /// interval plus the export timeout are let go, and loaded again when
    /// seen again. If there are not enough of those, the cache grows up to
    /// twice this size; there it lets go of any subject without an open
    /// scope, and that subject's records still buffered are dropped (as
    /// `unconfirmed`).
    pub fn consent_cache(mut self, subjects: usize) -> Self {
        self.consent_cache = subjects;
        self
    }

    /// Where a span that has no library parent looks for one: another
    /// tracing system's current span on this thread (the OpenTelemetry
    /// bridge, `telemetry_exporters::otel_bridge::join_otel_traces`, sets
    /// it). Called only when a span would otherwise start a new trace; the
    /// span then joins that trace as a child and follows its sampled flag.
    pub fn external_parent(mut self, parent: fn() -> Option<SpanContext>) -> Self {
        self.external_parent = Some(parent);
        self
    }

    /// The sampler (default: keep everything, or what
    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` say; a sampler
    /// set here wins over them).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self.sampler_set = true;
        self
    }

    /// Adds a hash key (at least 16 bytes of secret material; 32 random
    /// bytes recommended). The last key added is the active one; switch with
    /// [`Telemetry::rotate_hash_key`](crate::Telemetry::rotate_hash_key). Records carry the id of the key their
    /// hashed fields used.
    pub fn hash_key(mut self, id: KeyId, material: impl AsRef<[u8]>) -> Self {
        self.keys.push((id, material.as_ref().to_vec()));
        self
    }

    /// The key that turns subject ids into pseudonymous subject keys. By
    /// default it is derived from the first hash key; set it explicitly so
    /// that rotating hash keys does not change subject keys (and a persistent
    /// consent store keeps finding its subjects).
    pub fn subject_key(mut self, material: impl AsRef<[u8]>) -> Self {
        self.subject_key = Some(material.as_ref().to_vec());
        self
    }

    /// Names a service-defined category (see [`Category::custom`]). Any
    /// text works except `-`, names starting with `custom-` or `reserved-`
    /// (those name unnamed categories), names with leading or trailing
    /// white space or control characters, and the built-in names; `build`
    /// reports such a name.
    pub fn category(mut self, category: Category, name: impl Into<String>) -> Self {
        self.categories.push((category, name.into()));
        self
    }

    /// Declares an event type, so that configuration problems with it (a
    /// hashed field and no hash key) are reported at build time. Derived
    /// events and instrumented functions are checked without it (they are
    /// in the catalogue); declare hand-written `TelemetryEvent` impls.
    pub fn event_schema(mut self, schema: &'static EventSchema) -> Self {
        self.events.push(schema);
        self
    }

    /// Limits on what a record can hold.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds an exporter. Every exporter receives every batch.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// Records the lock-free export queue holds (default 16384, allocated
    /// at build: 432 bytes a slot, since a record keeps up to four
    /// attributes inline, so about 6.8 MiB by default). When it is full, the recording thread moves its records
    /// into the export buffer (see [`buffer_capacity`](Self::buffer_capacity));
    /// when that is full too, new records are dropped and counted with
    /// cause `queue_full` (or wait, see
    /// [`wait_when_full`](Self::wait_when_full)).
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.pipeline.queue_capacity = records;
        self
    }

    /// Records held in memory for export beyond the queue, at most
    /// (default 262144: a burst of a million events written as fast as one
    /// thread can keeps most of them; memory grows only while a burst is
    /// buffered, about 0.4 KiB per record of four attributes, so some
    /// 110 MiB when full). The bound on what telemetry holds in memory is
    /// `queue_capacity + buffer_capacity` records.
    pub fn buffer_capacity(mut self, records: usize) -> Self {
        self.pipeline.buffer_capacity = records;
        self
    }

    /// Records of `category` wait up to `bound` for room in a full queue
    /// instead of being dropped at once: for events a business cannot lose
    /// (purchases, audit). The recording thread blocks at most `bound` per
    /// record (the export worker is woken to make room); past it the
    /// record is dropped and counted as `queue_full`, as for every other
    /// category by default. At most 5 s.
    pub fn wait_when_full(mut self, category: Category, bound: Duration) -> Self {
        let micros = u32::try_from(bound.as_micros()).unwrap_or(u32::MAX);
        if let Some(slot) = self
            .pipeline
            .wait_when_full
            .get_mut(category.bit() as usize)
        {
            *slot = micros.max(u32::from(!bound.is_zero()));
        }
        self
    }

    /// Records per export batch (default 512): a full batch is exported
    /// without waiting for the flush interval.
    pub fn batch_size(mut self, records: usize) -> Self {
        self.pipeline.batch_size = records;
        self
    }

    /// Longest time a record waits before export (default 1 s).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.pipeline.flush_interval = interval;
        self
    }

    /// How often metrics are collected and exported (default 10 s, or
    /// `OTEL_METRIC_EXPORT_INTERVAL` milliseconds; an interval set here
    /// wins over it).
    pub fn metric_interval(mut self, interval: Duration) -> Self {
        self.pipeline.metric_interval = interval;
        self.metric_interval_set = true;
        self
    }

    /// Longest one export round may take (default 10 s): the deadline every
    /// exporter is given for a batch, and how long
    /// [`Telemetry::force_flush`](crate::Telemetry::force_flush) waits at most.
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.pipeline.export_timeout = timeout;
        self
    }

    /// Where the warning about failed exports goes: by default a line on
    /// stderr, at most once a minute, with how many failures it stands
    /// for. It is never recorded as telemetry (a failing export must not
    /// feed itself). `sink` gets each line; use it to route the warning to
    /// the service's own logger.
    pub fn export_warnings(
        mut self,
        sink: impl Fn(&str) + Send + Sync + 'static,
        every: Duration,
    ) -> Self {
        self.export_warnings = (Some(std::sync::Arc::new(sink)), every);
        self
    }

    /// No warning about failed exports (they are still counted, in
    /// [`Telemetry::stats`](crate::Telemetry::stats) and the drop metrics).
    pub fn quiet_export_failures(mut self) -> Self {
        self.export_warnings.0 = None;
        self
    }

    /// Consent changes kept in the in-memory audit trail (default 10000).
    pub fn audit_capacity(mut self, entries: usize) -> Self {
        self.audit_capacity = entries;
        self
    }

    /// The period over which consent coverage is counted (default 1 hour).
    pub fn coverage_period(mut self, period: Duration) -> Self {
        self.coverage_period = period;
        self
    }

    /// Reads `DO_NOT_TRACK` and `OTEL_SDK_DISABLED` from `env` instead of the process.
    pub fn env(mut self, env: Environment) -> Self {
        self.env = env;
        self
    }

    /// Whether `DO_NOT_TRACK=1` denies every category that requires consent (default true).
    pub fn honor_do_not_track(mut self, honor: bool) -> Self {
        self.honor_dnt = honor;
        self
    }

    /// Whether `OTEL_SDK_DISABLED=true` turns telemetry off (default true).
    pub fn honor_sdk_disabled(mut self, honor: bool) -> Self {
        self.honor_sdk_disabled = honor;
        self
    }

    /// Let the service name and resource attributes set in code win over
    /// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (by default the
    /// environment wins, as OpenTelemetry deployments expect).
    pub fn resource_code_wins(mut self) -> Self {
        self.resource_code_wins = true;
        self
    }
}
