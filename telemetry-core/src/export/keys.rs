//! The attribute keys the library puts on records and on the resource
//! (OpenTelemetry semantic conventions where they exist).

// On records, for analysts.
/// The record's category name.
pub const CATEGORY: &str = "telemetry.category";
/// The record's inclusion probability (0..=1]: weight each record by its
/// inverse to estimate totals from sampled data.
pub const SAMPLE_PROBABILITY: &str = "telemetry.sample.probability";
/// The id of the key hashed fields were hashed with.
pub const HASH_KEY_ID: &str = "telemetry.hash.key_id";
/// The pseudonymous subject key (keyed hash of the subject id).
pub const SUBJECT: &str = "telemetry.subject";
/// An event's schema version.
pub const SCHEMA_VERSION: &str = "telemetry.event.version";

// On the resource.
/// `service.name`
pub const SERVICE_NAME: &str = "service.name";
/// `service.version`
pub const SERVICE_VERSION: &str = "service.version";
/// `service.instance.id`
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// `deployment.environment.name`
pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment.name";
/// `telemetry.sdk.name`
pub const SDK_NAME: &str = "telemetry.sdk.name";
/// `telemetry.sdk.language`
pub const SDK_LANGUAGE: &str = "telemetry.sdk.language";
/// `telemetry.sdk.version`
pub const SDK_VERSION: &str = "telemetry.sdk.version";
/// `process.pid`
pub const PROCESS_PID: &str = "process.pid";
/// `os.type`
pub const OS_TYPE: &str = "os.type";
