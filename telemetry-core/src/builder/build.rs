//! Validation and construction: every problem with the configuration is a
//! [`ConfigError`] that says what is wrong and how to fix it; then the
//! instance is assembled and its export worker started.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::category::{Category, CategoryNames, CategorySet};
use crate::clock::Clock;
use crate::consent::view::FleetView;
use crate::consent::{
    ConsentRegistry, ConsentStore, MemoryConsentStore, RegistrySettings, StoreSettings,
};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::export::Resource;
use crate::health::drops::DropCounters;
use crate::instance::{Inner, Parts, next_instance_id};
use crate::metrics::registry::MetricRegistry;
use crate::pipeline::Pipeline;
use crate::privacy::{
    FIELD_KEY_CONTEXT, HashKey, KeyId, KeyRing, MIN_KEY_BYTES, SUBJECT_KEY_CONTEXT,
};
use crate::telemetry::Telemetry;

use super::TelemetryBuilder;

impl TelemetryBuilder {
    /// Validates the configuration and starts the pipeline.
    pub fn build(mut self) -> Result<Telemetry, ConfigError> {
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
            if let Some(problem) = reserved_name_problem(name) {
                return invalid(
                    ConfigErrorKind::DuplicateCategory,
                    format!(
                        "custom category {category:?} is named `{}`, which {problem}; \
                         give it a name like \"fraud\"",
                        name.escape_debug()
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
        if !self.sampler_set
            && let Some(p) = self.sampler_from_env()?
        {
            self.sampler = self.sampler.default_probability(p);
        }
        if !self.metric_interval_set
            && let Some(interval) = self.metric_interval_from_env()?
        {
            self.pipeline.metric_interval = interval;
        }
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
        if let Some(message) = duplicate_function_names() {
            return invalid(ConfigErrorKind::DuplicateName, message);
        }
        if keys.is_empty()
            && let Some(what) = first_hashed(&self.events)
        {
            return invalid(
                ConfigErrorKind::MissingHashKey,
                format!(
                    "{what}, but no hash key is configured, so its values could only be \
                     redacted; add .hash_key(KeyId(1), key) with 32 random bytes from your secret \
                     store"
                ),
            );
        }
        let stable_subject_material = self
            .subject_key
            .clone()
            .or_else(|| self.keys.first().map(|(_, m)| m.clone()));
        let store =
            match (self.store, self.shared_store) {
                (Some(_), Some(_)) => {
                    return invalid(
                        ConfigErrorKind::ConsentStore,
                        "both a consent store and a shared consent store are configured; use \
                     .consent_store(..) for one process or .shared_consent_store(..) for several, \
                     not both"
                            .to_owned(),
                    );
                }
                (_, Some(shared)) => {
                    if self.max_staleness < Duration::from_millis(100) {
                        return invalid(
                            ConfigErrorKind::InvalidLimit,
                            format!(
                                "max_staleness is {:?}; use at least 100 ms (the default is 2 s)",
                                self.max_staleness
                            ),
                        );
                    }
                    if self.consent_cache == 0 {
                        return invalid(
                            ConfigErrorKind::InvalidLimit,
                            "consent_cache is 0; it must hold at least 1 subject".to_owned(),
                        );
                    }
                    StoreSettings::Shared(FleetView::new(
                        shared,
                        self.max_staleness,
                        self.consent_cache,
                        self.pipeline.flush_interval + self.pipeline.export_timeout,
                    ))
                }
                (store, None) => StoreSettings::Local(store.unwrap_or_else(|| {
                    Box::new(MemoryConsentStore::new()) as Box<dyn ConsentStore>
                })),
            };
        let persistent = match &store {
            StoreSettings::Local(store) => store.is_persistent(),
            StoreSettings::Shared(_) => true,
        };
        let subject_key = match stable_subject_material {
            Some(m) => HashKey::derive(KeyId(0), &m, SUBJECT_KEY_CONTEXT),
            None if persistent => {
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
            ("buffer_capacity", self.pipeline.buffer_capacity),
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
        if let Some((bit, _)) = self
            .pipeline
            .wait_when_full
            .iter()
            .enumerate()
            .find(|(_, us)| **us > 5_000_000)
        {
            let name = Category::from_bit(bit as u8)
                .map(|c| names.name(c).into_owned())
                .unwrap_or_default();
            return invalid(
                ConfigErrorKind::InvalidLimit,
                format!(
                    "wait_when_full for category `{name}` is longer than 5 s; a recording thread \
                     blocked that long stalls the service: use a shorter bound (50 ms is plenty \
                     for a burst) or a larger queue_capacity"
                ),
            );
        }
        let do_not_track = self.honor_dnt && self.env.flag("DO_NOT_TRACK", &["1", "true", "yes"]);
        let disabled = self.honor_sdk_disabled && self.env.flag("OTEL_SDK_DISABLED", &["true"]);
        let id = next_instance_id(matches!(store, StoreSettings::Shared(_)));
        // Coverage counts the categories that require consent and have names.
        let counted = CategorySet::from_bits(known.bits() & self.policy.required_set().bits())
            .without(Category::TELEMETRY);
        let consent = ConsentRegistry::new(RegistrySettings {
            policy: self.policy,
            do_not_track,
            subject_key,
            owner: id.get(),
            store,
            audit_capacity: self.audit_capacity,
            coverage_period_secs: self.coverage_period.as_secs().max(1),
            counted,
        })
        .map_err(|e| ConfigError::new(ConfigErrorKind::ConsentStore, e.to_string()))?;
        let exporters = if disabled { Vec::new() } else { self.exporters };
        let inner = Arc::new(Inner::new(Parts {
            enabled: AtomicBool::new(!disabled),
            sampler,
            keys: KeyRing::new(keys),
            limits: self.limits,
            drops: DropCounters::new(id),
            clock: Clock::new(),
            consent,
            pipeline: Pipeline::new(
                self.pipeline,
                exporters,
                crate::pipeline::ExportStats::new(self.export_warnings.0, self.export_warnings.1),
            ),
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
            rejected_headers: Default::default(),
            external_parent: self.external_parent,
        }));
        Pipeline::start(&inner).map_err(|e| {
            ConfigError::new(
                ConfigErrorKind::Exporter,
                format!("cannot start the telemetry export thread: {e}"),
            )
        })?;
        let telemetry = Telemetry::owning(inner);
        if let Err(e) = crate::consent::fleet::start(&telemetry.inner) {
            telemetry.shutdown(Duration::from_secs(1));
            return Err(ConfigError::new(
                ConfigErrorKind::ConsentStore,
                format!("the shared consent store did not start: {e}"),
            ));
        }
        Ok(telemetry)
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

/// Why `name` cannot name a custom category, if it cannot: names travel in
/// consent records and the W3C `baggage` consent member, where `-` means
/// "no category" and `custom-N` / `reserved-N` are the names of unnamed
/// categories.
fn reserved_name_problem(name: &str) -> Option<&'static str> {
    if name == "-" {
        Some("means \"no category\" in consent records")
    } else if name.starts_with("custom-") || name.starts_with("reserved-") {
        Some("starts with `custom-` or `reserved-`, the prefixes of unnamed categories")
    } else if name.trim() != name {
        Some("has leading or trailing white space")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// The first event or instrumented function that hashes a value, among
/// those declared with `event_schema` and every one the catalogue holds
/// (each `#[derive(TelemetryEvent)]` and `#[instrument_event]` linked into
/// the program), described for an error message.
fn first_hashed(declared: &[&'static crate::event::schema::EventSchema]) -> Option<String> {
    use crate::catalogue::CatalogueItem;
    use crate::privacy::FieldClass;
    let hashed = |fields: &[crate::event::schema::FieldSchema]| {
        fields
            .iter()
            .find(|f| f.class == FieldClass::Hashed)
            .map(|f| f.name)
    };
    for schema in declared {
        if let Some(field) = hashed(schema.fields) {
            return Some(format!("event `{}` hashes field `{field}`", schema.name));
        }
    }
    for item in inventory::iter::<CatalogueItem> {
        match item {
            CatalogueItem::Event { schema, source } => {
                if let Some(field) = hashed(schema.fields) {
                    return Some(format!(
                        "event `{}` ({}:{}) hashes field `{field}`",
                        schema.name, source.file, source.line
                    ));
                }
            }
            CatalogueItem::Function { schema, source } => {
                let what = hashed(schema.fields)
                    .map(|f| format!("argument `{f}`"))
                    .or_else(|| {
                        (schema.records_error_message == Some(FieldClass::Hashed))
                            .then(|| "its error message".to_owned())
                    })
                    .or_else(|| {
                        (schema.records_return == Some(FieldClass::Hashed))
                            .then(|| "its return value".to_owned())
                    });
                if let Some(what) = what {
                    return Some(format!(
                        "#[instrument_event] function `{}` ({}:{}) hashes {what}",
                        schema.name, source.file, source.line
                    ));
                }
            }
        }
    }
    None
}

/// Two `#[instrument_event]` functions under one name (two methods named
/// `get` in different types, say) would share their spans' name and their
/// metrics: reported with both places, so one gets a `name = ".."`.
fn duplicate_function_names() -> Option<String> {
    use crate::catalogue::CatalogueItem;
    let mut seen: Vec<(&'static str, crate::catalogue::SourceLocation)> = Vec::new();
    for item in inventory::iter::<CatalogueItem> {
        let CatalogueItem::Function { schema, source } = item else {
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == schema.name) {
            return Some(format!(
                "two #[instrument_event] functions are named `{}` ({}:{} and {}:{}), so their \
                 spans and metrics would be mixed up; give one of them its own name, like \
                 #[instrument_event(name = \"folder.get\")]",
                schema.name, first.file, first.line, source.file, source.line
            ));
        }
        seen.push((schema.name, *source));
    }
    None
}
