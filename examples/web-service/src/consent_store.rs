//! Where the service keeps consent: in memory (one instance, the default)
//! or in a PostgreSQL database that every replica shares
//! (`--consent-store postgres://…`, or the `CONSENT_STORE_URL` variable).
//!
//! A connection string may hold a password: nothing here prints it, and
//! errors name the problem, not the string.

use std::fmt;
use std::time::Duration;

use telemetry_consent_postgres::PostgresConsentStore;
use telemetry_core::TelemetryBuilder;

/// The variable read when no `--consent-store` is given.
pub const CONSENT_STORE_VAR: &str = "CONSENT_STORE_URL";

/// Where consent is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// In this process only: lost at restart, not shared.
    Memory,
    /// A PostgreSQL database the replicas share (the connection string).
    Postgres(String),
}

/// By hand: the connection string never shows.
impl fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreChoice::Memory => f.write_str("Memory"),
            StoreChoice::Postgres(_) => f.write_str("Postgres(<connection string>)"),
        }
    }
}

impl StoreChoice {
    /// Reads `--consent-store`'s value: `memory`, or a `postgres://` or
    /// `postgresql://` connection string.
    pub fn parse(value: &str) -> Result<StoreChoice, String> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("memory") {
            return Ok(StoreChoice::Memory);
        }
        let lower = value.get(..13).unwrap_or(value).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(StoreChoice::Postgres(value.to_owned()));
        }
        Err(format!(
            "the consent store must be `memory` or a connection string starting with postgres:// (got a value of {} characters that is neither)",
            value.chars().count()
        ))
    }

    /// The flag's value if given, else [`CONSENT_STORE_VAR`], else memory.
    pub fn from_flag_or_env(flag: Option<&str>) -> Result<StoreChoice, String> {
        Self::from_flag_or_vars(flag, |name| std::env::var(name).ok())
    }

    /// Like [`from_flag_or_env`](Self::from_flag_or_env), reading the
    /// environment through `var`.
    pub fn from_flag_or_vars(
        flag: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<StoreChoice, String> {
        match flag {
            Some(value) => Self::parse(value).map_err(|e| format!("--consent-store: {e}")),
            None => match var(CONSENT_STORE_VAR) {
                Some(value) if !value.trim().is_empty() => {
                    Self::parse(&value).map_err(|e| format!("{CONSENT_STORE_VAR}: {e}"))
                }
                _ => Ok(StoreChoice::Memory),
            },
        }
    }

    /// A line for the console, without the password.
    pub fn describe(&self) -> &'static str {
        match self {
            StoreChoice::Memory => "consent store: memory (this process only)",
            StoreChoice::Postgres(_) => "consent store: PostgreSQL, shared by the replicas",
        }
    }

    /// Adds the store to `builder`. A PostgreSQL store connects (and
    /// migrates its schema) here; `max_staleness` is how old this
    /// replica's view may get before it refuses consent-requiring data.
    pub fn configure(
        &self,
        builder: TelemetryBuilder,
        max_staleness: Duration,
    ) -> Result<TelemetryBuilder, Box<dyn std::error::Error>> {
        match self {
            StoreChoice::Memory => Ok(builder),
            StoreChoice::Postgres(url) => {
                let store = PostgresConsentStore::builder(url.as_str()).build()?;
                Ok(builder
                    .shared_consent_store(store)
                    .max_staleness(max_staleness))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_the_default_and_postgres_urls_are_recognised() {
        assert_eq!(
            StoreChoice::from_flag_or_vars(None, |_| None).unwrap(),
            StoreChoice::Memory
        );
        assert_eq!(
            StoreChoice::from_flag_or_vars(Some("memory"), |_| None).unwrap(),
            StoreChoice::Memory
        );
        let url = "postgres://app:s3cret@db:5432/app";
        assert_eq!(
            StoreChoice::from_flag_or_vars(None, |_| Some(url.to_owned())).unwrap(),
            StoreChoice::Postgres(url.to_owned())
        );
        // The flag wins over the environment.
        assert_eq!(
            StoreChoice::from_flag_or_vars(Some("memory"), |_| Some(url.to_owned())).unwrap(),
            StoreChoice::Memory
        );
        assert!(matches!(
            StoreChoice::parse("PostgreSQL://h/db").unwrap(),
            StoreChoice::Postgres(_)
        ));
    }

    #[test]
    fn errors_and_debug_output_never_show_the_connection_string() {
        let bad = "mysql://app:s3cret@db/app";
        let e = StoreChoice::from_flag_or_vars(None, |_| Some(bad.to_owned())).unwrap_err();
        assert!(
            e.contains(CONSENT_STORE_VAR) && e.contains("postgres://"),
            "{e}"
        );
        assert!(!e.contains("s3cret") && !e.contains("mysql"), "{e}");
        let e = StoreChoice::from_flag_or_vars(Some(bad), |_| None).unwrap_err();
        assert!(
            e.contains("--consent-store") && !e.contains("s3cret"),
            "{e}"
        );
        let choice = StoreChoice::parse("postgres://app:s3cret@db/app").unwrap();
        let shown = format!("{choice:?} {}", choice.describe());
        assert!(!shown.contains("s3cret"), "{shown}");
        // Multi-byte input is an error, not a panic.
        assert!(StoreChoice::parse("pöstgres://é").is_err());
    }
}
