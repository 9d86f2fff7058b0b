//! [`TelemetryBuilder`]: configuration, validated when the pipeline is built.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::category::{Category, CategoryNames, CategorySet};
use crate::consent::{
    ConsentPolicy, ConsentRegistry, ConsentStore, MemoryConsentStore, RegistrySettings,
};
use crate::drops::DropCounters;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::event::EventSchema;
use crate::exporter::Exporter;
use crate::metrics::instrument::MetricRegistry;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::privacy::{
    FIELD_KEY_CONTEXT, HashKey, KeyId, KeyRing, Limits, MIN_KEY_BYTES, SUBJECT_KEY_CONTEXT,
};
use crate::resource::Resource;
use crate::sampler::Sampler;
use crate::telemetry::{Clock, Inner, Telemetry, next_instance_id};

/// The environment variables the builder reads. By default the process
/// environment; tests can supply their own. Its `Debug` output lists
/// variable names only: values may be credentials.
#[derive(Clone, Default)]
pub struct Environment {
    vars: Option<Vec<(String, String)>>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.vars {
            None => f.write_str("Environment(process)"),
            Some(vars) => f
                .debug_tuple("Environment")
                .field(&vars.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl Environment {
    /// The process environment.
    pub fn process() -> Self {
        Environment { vars: None }
    }

    /// Exactly these variables, nothing from the process.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Environment {
            vars: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        match &self.vars {
            None => std::env::var(key).ok(),
            Some(v) => v.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
        }
    }

    fn flag(&self, key: &str, truthy: &[&str]) -> bool {
        self.get(key)
            .is_some_and(|v| truthy.iter().any(|t| v.trim().eq_ignore_ascii_case(t)))
    }
}

/// The service name and resource attributes after the environment is applied.
type ResourceSettings = (Option<String>, Vec<(String, String)>);

/// Configures a [`Telemetry`] instance. Every problem is reported by
/// [`build`](Self::build) (or [`install`](Self::install)) as a
/// [`ConfigError`] that says what is wrong and how to fix it.
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
    resource: Vec<(String, String)>,
    policy: ConsentPolicy,
    sampler: Sampler,
    keys: Vec<(KeyId, Vec<u8>)>,
    subject_key: Option<Vec<u8>>,
    limits: Limits,
    exporters: Vec<Box<dyn Exporter>>,
    store: Option<Box<dyn ConsentStore>>,
    categories: Vec<(Category, String)>,
    events: Vec<&'static EventSchema>,
    pipeline: PipelineConfig,
    audit_capacity: usize,
    coverage_period: Duration,
    env: Environment,
    honor_dnt: bool,
    honor_sdk_disabled: bool,
    resource_code_wins: bool,
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
            policy: ConsentPolicy::default(),
            sampler: Sampler::default(),
            keys: Vec::new(),
            subject_key: None,
            limits: Limits::default(),
            exporters: Vec::new(),
            store: None,
            categories: Vec::new(),
            events: Vec::new(),
            pipeline: PipelineConfig {
                queue_capacity: 16_384,
                batch_size: 512,
                flush_interval: Duration::from_secs(1),
                metric_interval: Duration::from_secs(10),
                export_timeout: Duration::from_secs(10),
            },
            audit_capacity: 10_000,
            coverage_period: Duration::from_secs(3600),
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
        self.resource.push((key.into(), value.into()));
        self
    }

    /// The consent policy.
    pub fn consent(mut self, policy: ConsentPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where consent choices are persisted (default: in memory only).
    pub fn consent_store(mut self, store: impl ConsentStore) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// The sampler.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Adds a hash key (at least 16 bytes of secret material; 32 random
    /// bytes recommended). The last key added is the active one; switch with
    /// [`Telemetry::rotate_hash_key`]. Records carry the id of the key their
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

    /// Names a service-defined category (see [`Category::custom`]).
    pub fn category(mut self, category: Category, name: impl Into<String>) -> Self {
        self.categories.push((category, name.into()));
        self
    }

    /// Declares an event type, so that configuration problems with it (a
    /// hashed field and no hash key) are reported at build time.
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

    /// Records the export queue holds (default 16384). When it is full, new
    /// records are dropped and counted with cause `queue_full`.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.pipeline.queue_capacity = records;
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

    /// How often metrics are collected and exported (default 10 s).
    pub fn metric_interval(mut self, interval: Duration) -> Self {
        self.pipeline.metric_interval = interval;
        self
    }

    /// Longest one export round may take (default 10 s): the deadline every
    /// exporter is given for a batch, and how long
    /// [`Telemetry::force_flush`] waits at most.
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.pipeline.export_timeout = timeout;
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

    /// The service name and resource attributes after applying
    /// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
    fn resource_settings(&self) -> Result<ResourceSettings, ConfigError> {
        let mut from_env = Vec::new();
        if let Some(attrs) = self.env.get("OTEL_RESOURCE_ATTRIBUTES") {
            for pair in attrs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some((k, v)) if !k.trim().is_empty() => from_env.push((
                        k.trim().to_owned(),
                        v.trim().replace("%20", " ").replace("%2C", ","),
                    )),
                    _ => {
                        return Err(ConfigError::new(
                            ConfigErrorKind::InvalidResource,
                            format!(
                                "OTEL_RESOURCE_ATTRIBUTES has `{pair}`, which is not `key=value`; \
                                 write `key1=value1,key2=value2`"
                            ),
                        ));
                    }
                }
            }
        }
        let env_service = self
            .env
            .get("OTEL_SERVICE_NAME")
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                from_env
                    .iter()
                    .find(|(k, _)| k == "service.name")
                    .map(|(_, v)| v.clone())
            });
        let code_service = self
            .service
            .as_ref()
            .map(|(s, _)| s.clone())
            .filter(|s| !s.trim().is_empty());
        let service = if self.resource_code_wins {
            code_service.or(env_service)
        } else {
            env_service.or(code_service)
        };
        let mut attrs: Vec<(String, String)> = Vec::new();
        let (first, second) = if self.resource_code_wins {
            (&from_env, &self.resource)
        } else {
            (&self.resource, &from_env)
        };
        for (k, v) in first.iter().chain(second.iter()) {
            if k == "service.name" {
                continue;
            }
            attrs.retain(|(ek, _)| ek != k);
            attrs.push((k.clone(), v.clone()));
        }
        Ok((service, attrs))
    }

    /// Validates the configuration and starts the pipeline.
    pub fn build(self) -> Result<Telemetry, ConfigError> {
        let invalid = |kind, msg: String| Err(ConfigError::new(kind, msg));
        let (service_name, resource_attrs) = self.resource_settings()?;
        let version = self
            .service
            .as_ref()
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let (service, version) = match service_name {
            Some(s) => (s, version),
            _ => {
                return invalid(
                    ConfigErrorKind::EmptyServiceName,
                    "the service name is empty; call .service(\"my-service\", env!(\"CARGO_PKG_VERSION\")) \
                     with the name your dashboards should show"
                        .to_owned(),
                );
            }
        };
        // Categories and their names.
        let mut names = CategoryNames::default();
        let mut known = CategorySet::from(Category::BUILTIN);
        for (i, (category, name)) in self.categories.iter().enumerate() {
            if !category.is_custom() {
                return invalid(
                    ConfigErrorKind::DuplicateCategory,
                    format!(
                        "category `{category}` is built in and already named; only custom categories \
                         (Category::custom(0..56)) can be named"
                    ),
                );
            }
            if name.trim().is_empty() {
                return invalid(
                    ConfigErrorKind::DuplicateCategory,
                    format!(
                        "custom category {category:?} has an empty name; give it a name like \"fraud\""
                    ),
                );
            }
            for (other, other_name) in &self.categories[..i] {
                if other == category {
                    return invalid(
                        ConfigErrorKind::DuplicateCategory,
                        format!(
                            "category {category:?} is defined twice (as `{other_name}` and `{name}`); \
                             define each category once"
                        ),
                    );
                }
                if other_name == name {
                    return invalid(
                        ConfigErrorKind::DuplicateCategory,
                        format!("two categories are named `{name}`; category names must be unique"),
                    );
                }
            }
            if names.lookup(name).is_some() {
                return invalid(
                    ConfigErrorKind::DuplicateCategory,
                    format!("`{name}` is the name of a built-in category; choose another name"),
                );
            }
            names.set(*category, name);
            known = known.with(*category);
        }
        self.policy.validate(&names)?;
        let sampler = self.sampler.compile(&names)?;
        // Keys.
        let mut keys = Vec::new();
        for (i, (id, material)) in self.keys.iter().enumerate() {
            if material.len() < MIN_KEY_BYTES {
                return invalid(
                    ConfigErrorKind::InvalidKey,
                    format!(
                        "hash key {id} is {} bytes; use at least {MIN_KEY_BYTES} (32 random bytes from your secret store are recommended)",
                        material.len()
                    ),
                );
            }
            if self.keys[..i].iter().any(|(other, _)| other == id) {
                return invalid(
                    ConfigErrorKind::InvalidKey,
                    format!("hash key id {id} is used twice; give each key its own id"),
                );
            }
            keys.push(HashKey::derive(*id, material, FIELD_KEY_CONTEXT));
        }
        if let Some(material) = &self.subject_key
            && material.len() < MIN_KEY_BYTES
        {
            return invalid(
                ConfigErrorKind::InvalidKey,
                format!(
                    "the subject key is {} bytes; use at least {MIN_KEY_BYTES} (32 random bytes recommended)",
                    material.len()
                ),
            );
        }
        if keys.is_empty()
            && let Some(schema) = self.events.iter().find(|e| e.needs_hash_key())
        {
            let field = schema
                .fields
                .iter()
                .find(|f| f.class == crate::privacy::FieldClass::Hashed)
                .map_or("?", |f| f.name);
            return invalid(
                ConfigErrorKind::MissingHashKey,
                format!(
                    "event `{}` hashes field `{field}`, but no hash key is configured; add \
                     .hash_key(KeyId(1), key) with 32 random bytes from your secret store",
                    schema.name
                ),
            );
        }
        let stable_subject_material = self
            .subject_key
            .clone()
            .or_else(|| self.keys.first().map(|(_, m)| m.clone()));
        let store: Box<dyn ConsentStore> = self
            .store
            .unwrap_or_else(|| Box::new(MemoryConsentStore::new()));
        let subject_key = match stable_subject_material {
            Some(m) => HashKey::derive(KeyId(0), &m, SUBJECT_KEY_CONTEXT),
            None if store.is_persistent() => {
                return invalid(
                    ConfigErrorKind::MissingHashKey,
                    "a persistent consent store needs a stable subject key, or it cannot find its \
                     subjects after a restart; add .subject_key(key) or .hash_key(KeyId(1), key)"
                        .to_owned(),
                );
            }
            None => {
                // Process-local pseudonyms: stable for this process only.
                let mut material = [0u8; 32];
                for chunk in material.chunks_mut(8) {
                    chunk.copy_from_slice(&crate::trace::next_random().to_le_bytes());
                }
                HashKey::derive(KeyId(0), &material, SUBJECT_KEY_CONTEXT)
            }
        };
        // Limits and pipeline sizes.
        let l = &self.limits;
        for (what, v) in [
            ("limits.max_attributes", l.max_attributes),
            ("limits.max_string_len", l.max_string_len),
            ("limits.max_record_bytes", l.max_record_bytes),
            ("limits.max_series_per_metric", l.max_series_per_metric),
            ("queue_capacity", self.pipeline.queue_capacity),
            ("batch_size", self.pipeline.batch_size),
            ("audit_capacity", self.audit_capacity),
        ] {
            if v == 0 {
                return invalid(
                    ConfigErrorKind::InvalidLimit,
                    format!("{what} is 0; it must be at least 1"),
                );
            }
        }
        for (what, d) in [
            ("flush_interval", self.pipeline.flush_interval),
            ("metric_interval", self.pipeline.metric_interval),
            ("export_timeout", self.pipeline.export_timeout),
            ("coverage_period", self.coverage_period),
        ] {
            if d.is_zero() {
                return invalid(
                    ConfigErrorKind::InvalidLimit,
                    format!("{what} is zero; use a positive duration"),
                );
            }
        }
        let do_not_track = self.honor_dnt && self.env.flag("DO_NOT_TRACK", &["1", "true", "yes"]);
        let disabled = self.honor_sdk_disabled && self.env.flag("OTEL_SDK_DISABLED", &["true"]);
        let id = next_instance_id();
        // Coverage counts the categories that require consent and have names.
        let counted = CategorySet::from_bits(known.bits() & self.policy.required_set().bits())
            .without(Category::TELEMETRY);
        let consent = ConsentRegistry::new(RegistrySettings {
            policy: self.policy,
            do_not_track,
            subject_key,
            owner: id,
            store,
            audit_capacity: self.audit_capacity,
            coverage_period_secs: self.coverage_period.as_secs().max(1),
            counted,
        })
        .map_err(|e| ConfigError::new(ConfigErrorKind::ConsentStore, e.to_string()))?;
        let exporters = if disabled { Vec::new() } else { self.exporters };
        let inner = Arc::new(Inner {
            id,
            enabled: AtomicBool::new(!disabled),
            sampler,
            keys: KeyRing::new(keys),
            limits: self.limits,
            drops: DropCounters::new(id),
            clock: Clock::new(),
            consent,
            pipeline: Pipeline::new(self.pipeline, exporters),
            metrics: MetricRegistry::default(),
            resource: Resource::new(
                &service,
                &version,
                self.environment.as_deref(),
                &resource_attrs,
            ),
            names,
            known,
            pipeline_config: self.pipeline,
            #[cfg(feature = "http")]
            rejected_headers: Default::default(),
        });
        Pipeline::start(&inner).map_err(|e| {
            ConfigError::new(
                ConfigErrorKind::Exporter,
                format!("cannot start the telemetry export thread: {e}"),
            )
        })?;
        Ok(Telemetry::owning(inner))
    }

    /// Builds and installs the instance globally, for the macros and
    /// [`Telemetry::global`]. Installing twice is an error.
    pub fn install(self) -> Result<Telemetry, ConfigError> {
        let telemetry = self.build()?;
        if let Err(e) = telemetry.install_global() {
            telemetry.shutdown(Duration::from_secs(1));
            return Err(e);
        }
        Ok(telemetry)
    }
}
