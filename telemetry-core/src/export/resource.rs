//! Resource attributes: what service, version, environment and process the
//! telemetry comes from, named after the OpenTelemetry semantic conventions.

use crate::export::{Attribute, keys};
use crate::value::AttrValue;

/// The name this library reports as `telemetry.sdk.name` and instrumentation scope.
pub const SDK_NAME: &str = "telemetry-core";
/// The version this library reports.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The resource every exported record is attributed to.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    attributes: Vec<Attribute>,
}

impl Resource {
    pub(crate) fn new(
        service: &str,
        version: &str,
        environment: Option<&str>,
        extra: &[(String, AttrValue)],
    ) -> Self {
        let instance = format!("{}", crate::trace::TraceId::random());
        let mut attributes = vec![
            Attribute::new(keys::SERVICE_NAME, AttrValue::from(service.to_owned())),
            Attribute::new(keys::SERVICE_VERSION, AttrValue::from(version.to_owned())),
            Attribute::new(keys::SERVICE_INSTANCE_ID, AttrValue::from(instance)),
            Attribute::new(keys::SDK_NAME, SDK_NAME),
            Attribute::new(keys::SDK_LANGUAGE, "rust"),
            Attribute::new(keys::SDK_VERSION, SDK_VERSION),
            Attribute::new(
                keys::PROCESS_PID,
                AttrValue::I64(i64::from(std::process::id())),
            ),
            Attribute::new(keys::OS_TYPE, std::env::consts::OS),
        ];
        if let Some(env) = environment {
            attributes.push(Attribute::new(
                keys::DEPLOYMENT_ENVIRONMENT,
                AttrValue::from(env.to_owned()),
            ));
        }
        for (k, v) in extra {
            attributes.retain(|a| a.key != k.as_str());
            attributes.push(Attribute::new(k.clone(), v.clone()));
        }
        Resource { attributes }
    }

    /// The resource's attributes.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The value of one attribute.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }

    /// `service.name`.
    pub fn service_name(&self) -> &str {
        match self.get(keys::SERVICE_NAME) {
            Some(AttrValue::Str(s)) => s,
            _ => "",
        }
    }
}
