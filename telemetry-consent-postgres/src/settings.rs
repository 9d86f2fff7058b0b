//! How the store connects: the parsed connection string (its password
//! never shown), the schema, timeouts and intervals, the replica's name,
//! and the errors PostgreSQL gives, turned into messages that say what to
//! fix.

use std::str::FromStr;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls};
use telemetry_core::ConsentError;

/// What every connection of one store is made with.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) config: postgres::Config,
    pub(crate) schema: String,
    pub(crate) replica: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) statement_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) liveness: Duration,
    pub(crate) load_queue: usize,
    pub(crate) outbox_lease: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("server", &self.server())
            .field("schema", &self.schema)
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

/// Parses a connection string (`postgres://user:password@host:port/db` or
/// `host=... user=...`). The error never repeats the string: it may hold a
/// password.
pub(crate) fn parse_url(url: &str) -> Result<postgres::Config, ConsentError> {
    let config = postgres::Config::from_str(url).map_err(|e| {
        ConsentError::new(format!(
            "the PostgreSQL connection string is invalid ({e}); write it as \
             postgres://user:password@host:port/database (the string itself is not shown: it may \
             hold a password)"
        ))
    })?;
    if config.get_hosts().is_empty() {
        return Err(ConsentError::new(
            "the PostgreSQL connection string names no host; write it as \
             postgres://user:password@host:port/database",
        ));
    }
    if config.get_user().is_none() {
        return Err(ConsentError::new(
            "the PostgreSQL connection string names no user; write it as \
             postgres://user:password@host:port/database",
        ));
    }
    Ok(config)
}

/// Whether `name` can name the store's schema: a lower-case SQL identifier
/// (`a`–`z`, `0`–`9`, `_`, not starting with a digit), at most 40 bytes
/// (the change channel appends to it).
pub(crate) fn check_schema(name: &str) -> Result<(), ConsentError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(ConsentError::new(format!(
            "`{}` cannot name the consent schema; use lower-case letters, digits and `_` \
             (not first), at most 40 characters, e.g. `telemetry_consent`",
            name.escape_debug()
        )))
    }
}

impl Settings {
    /// `host:port/database`, for messages (no user, no password).
    pub(crate) fn server(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "?".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self
            .config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("?");
        format!("{host}:{port}/{db}")
    }

    /// The name of the change notification channel.
    pub(crate) fn channel(&self) -> String {
        format!("{}_changes", self.schema)
    }

    /// A table's qualified name.
    pub(crate) fn table(&self, table: &str) -> String {
        format!("{}.{table}", self.schema)
    }

    /// Opens a connection with the store's timeouts: connecting, each
    /// statement, and a transaction left idle are all bounded.
    pub(crate) fn connect(&self) -> Result<Client, ConsentError> {
        let mut config = self.config.clone();
        config
            .connect_timeout(self.connect_timeout)
            .tcp_user_timeout(self.statement_timeout + self.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .application_name("telemetry-consent-postgres")
            .options(&format!(
                "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
                self.statement_timeout.as_millis(),
                (self.statement_timeout * 2).as_millis()
            ));
        config
            .connect(NoTls)
            .map_err(|e| self.describe("cannot connect to PostgreSQL", &e))
    }

    /// A message for a PostgreSQL error that says what to fix. Never shows
    /// the password.
    pub(crate) fn describe(&self, doing: &str, e: &postgres::Error) -> ConsentError {
        let server = self.server();
        let user = self.config.get_user().unwrap_or("?");
        let schema = &self.schema;
        let Some(db) = e.as_db_error() else {
            return ConsentError::new(format!(
                "{doing} at {server}: {e}; check that the server runs and is reachable"
            ));
        };
        let code = db.code();
        let detail = db.message();
        let message = if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            format!(
                "{doing} at {server}: the role `{user}` lacks a permission ({detail}); the store \
                 needs CREATE on the database to create its schema `{schema}` the first time, then \
                 USAGE on the schema, SELECT, INSERT, UPDATE, DELETE on its tables and USAGE on its \
                 sequences (or run it once as the schema's owner)"
            )
        } else if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            format!(
                "{doing} at {server}: authentication failed for the role `{user}` ({detail}); check \
                 the user and password in the connection string"
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            format!("{doing} at {server}: {detail}; create the database or fix its name")
        } else if *code == SqlState::QUERY_CANCELED {
            format!(
                "{doing} at {server}: the statement took longer than the statement timeout ({:?}) \
                 ({detail})",
                self.statement_timeout
            )
        } else {
            format!("{doing} at {server}: {detail} (SQLSTATE {})", code.code())
        };
        ConsentError::new(message)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn connection_string_errors_never_show_the_password() {
        for bad in [
            "postgres://user:s3cr3t-pw@host:notaport/db",
            "postgres://user:s3cr3t-pw@host:5432/db?sslmode=sometimes",
            "host=h user=u password=s3cr3t-pw port=x",
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(!e.contains("s3cr3t-pw"), "{e}");
            assert!(
                e.contains("postgres://user:password@host:port/database"),
                "{e}"
            );
        }
        let e = parse_url("postgres:///db").unwrap_err().to_string();
        assert!(e.contains("no host") || e.contains("no user"), "{e}");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(check_schema("telemetry_consent").is_ok());
        for bad in ["", "1abc", "Bad", "a-b", "a;drop table x", &"a".repeat(41)] {
            assert!(check_schema(bad).is_err(), "{bad}");
        }
    }
}
