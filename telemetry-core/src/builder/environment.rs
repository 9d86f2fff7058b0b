//! The environment the builder reads (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `DO_NOT_TRACK`, `OTEL_SDK_DISABLED`,
//! `OTEL_TRACES_SAMPLER` with `OTEL_TRACES_SAMPLER_ARG`,
//! `OTEL_METRIC_EXPORT_INTERVAL`), from the process or, in tests, from
//! given pairs.

use crate::error::{ConfigError, ConfigErrorKind};
use crate::value::AttrValue;

use super::TelemetryBuilder;

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

    pub(super) fn flag(&self, key: &str, truthy: &[&str]) -> bool {
        self.get(key)
            .is_some_and(|v| truthy.iter().any(|t| v.trim().eq_ignore_ascii_case(t)))
    }
}

/// The service name and resource attributes after the environment is applied.
type ResourceSettings = (Option<String>, Vec<(String, AttrValue)>);

impl TelemetryBuilder {
    /// The service name and resource attributes after applying
    /// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
    pub(super) fn resource_settings(&self) -> Result<ResourceSettings, ConfigError> {
        let mut from_env = Vec::new();
        if let Some(attrs) = self.env.get("OTEL_RESOURCE_ATTRIBUTES") {
            for pair in attrs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some((k, v)) if !k.trim().is_empty() => from_env.push((
                        k.trim().to_owned(),
                        AttrValue::from(v.trim().replace("%20", " ").replace("%2C", ",")),
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
                    .find(|(k, v)| k == "service.name" && !v.render().trim().is_empty())
                    .map(|(_, v)| v.render().into_owned())
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
        let mut attrs: Vec<(String, AttrValue)> = Vec::new();
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
        let mut detected = Vec::new();
        if self.detect_host {
            if let Some(name) = super::detect::host_name() {
                detected.push(("host.name", AttrValue::from(name)));
            }
            detected.push(("host.arch", AttrValue::from(super::detect::host_arch())));
        }
        if self.detect_container
            && let Some(id) = super::detect::container_id()
        {
            detected.push(("container.id", AttrValue::from(id)));
        }
        for (k, v) in detected {
            // What code or the environment set wins over what is detected.
            if !attrs.iter().any(|(ek, _)| ek == k) {
                attrs.push((k.to_owned(), v));
            }
        }
        Ok((service, attrs))
    }
}

impl TelemetryBuilder {
    /// The default sampling probability `OTEL_TRACES_SAMPLER` (and
    /// `OTEL_TRACES_SAMPLER_ARG`) ask for, if set. The `parentbased_`
    /// forms mean the same here: a child always follows its parent's
    /// decision.
    pub(super) fn sampler_from_env(&self) -> Result<Option<f64>, ConfigError> {
        let Some(name) = self.env.get("OTEL_TRACES_SAMPLER") else {
            return Ok(None);
        };
        let name = name.trim().to_ascii_lowercase();
        let invalid = |message: String| {
            Err(ConfigError::new(
                ConfigErrorKind::InvalidProbability,
                message,
            ))
        };
        match name.as_str() {
            "" => Ok(None),
            "always_on" | "parentbased_always_on" => Ok(Some(1.0)),
            "always_off" | "parentbased_always_off" => Ok(Some(0.0)),
            "traceidratio" | "parentbased_traceidratio" => {
                match self
                    .env
                    .get("OTEL_TRACES_SAMPLER_ARG")
                    .map(|a| a.trim().to_owned())
                {
                    None => Ok(Some(1.0)),
                    Some(arg) if arg.is_empty() => Ok(Some(1.0)),
                    Some(arg) => match arg.parse::<f64>() {
                        Ok(p) if (0.0..=1.0).contains(&p) => Ok(Some(p)),
                        _ => invalid(format!(
                            "OTEL_TRACES_SAMPLER_ARG is `{arg}`; give the probability as a number from 0 to 1, like 0.25"
                        )),
                    },
                }
            }
            other => invalid(format!(
                "OTEL_TRACES_SAMPLER is `{other}`, which this library does not offer; use always_on, always_off, traceidratio or their parentbased_ forms (with OTEL_TRACES_SAMPLER_ARG for the ratio)"
            )),
        }
    }

    /// The metric interval `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds)
    /// asks for, if set.
    pub(super) fn metric_interval_from_env(
        &self,
    ) -> Result<Option<std::time::Duration>, ConfigError> {
        let Some(value) = self.env.get("OTEL_METRIC_EXPORT_INTERVAL") else {
            return Ok(None);
        };
        match value.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Some(std::time::Duration::from_millis(ms))),
            _ if value.trim().is_empty() => Ok(None),
            _ => Err(ConfigError::new(
                ConfigErrorKind::InvalidLimit,
                format!(
                    "OTEL_METRIC_EXPORT_INTERVAL is `{}`; give the interval in milliseconds, a whole number above 0, like 60000",
                    value.trim()
                ),
            )),
        }
    }
}
