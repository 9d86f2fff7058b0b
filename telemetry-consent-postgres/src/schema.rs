//! The store's tables and their migrations: versioned, applied in one
//! transaction under an advisory lock, so replicas starting at the same
//! moment migrate once; a schema written by a newer version is refused.

use postgres::Client;
use telemetry_core::ConsentError;

use crate::settings::Settings;

/// The schema version this library writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Migration `n` (1-based) takes the schema from version `n - 1` to `n`.
/// `{s}` is the schema's name.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = ["
CREATE TABLE {s}.subjects (
    subject_key bytea PRIMARY KEY CHECK (octet_length(subject_key) = 16),
    granted bigint NOT NULL,
    denied bigint NOT NULL,
    change bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.changes (
    change bigint PRIMARY KEY,
    subject_key bytea NOT NULL CHECK (octet_length(subject_key) = 16),
    granted bigint NOT NULL,
    denied bigint NOT NULL,
    replica text NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.audit (
    id bigserial PRIMARY KEY,
    change bigint NOT NULL,
    subject_key bytea NOT NULL CHECK (octet_length(subject_key) = 16),
    category text NOT NULL,
    category_bit smallint NOT NULL,
    old_choice text NOT NULL,
    new_choice text NOT NULL,
    source text NOT NULL,
    policy_version integer NOT NULL,
    changed_at timestamptz NOT NULL,
    replica text NOT NULL
);
CREATE INDEX audit_subject ON {s}.audit (subject_key);
CREATE TABLE {s}.outbox (
    id bigserial PRIMARY KEY,
    change bigint NOT NULL,
    subject_key bytea NOT NULL CHECK (octet_length(subject_key) = 16),
    categories text NOT NULL,
    source text NOT NULL,
    requested_at timestamptz NOT NULL,
    claimed_by text,
    claimed_until timestamptz,
    delivered_at timestamptz
);
CREATE INDEX outbox_undelivered ON {s}.outbox (id) WHERE delivered_at IS NULL;
CREATE TABLE {s}.replicas (
    replica text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    applied_change bigint NOT NULL DEFAULT 0
);
"];

/// A stable advisory lock key per schema name (FNV-1a).
fn lock_key(schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "telemetry-consent-postgres:".bytes().chain(schema.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// The schema's version, if its tables exist.
fn version(client: &mut Client, settings: &Settings) -> Result<Option<i32>, postgres::Error> {
    let meta = settings.table("meta");
    let exists: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&meta])?
        .get(0);
    if exists.is_none() {
        return Ok(None);
    }
    let row = client.query_opt(&format!("SELECT schema_version FROM {meta}"), &[])?;
    Ok(row.map(|r| r.get(0)))
}

fn newer(settings: &Settings, found: i32) -> ConsentError {
    ConsentError::new(format!(
        "the consent schema `{}` at {} has version {found}, written by a newer \
         telemetry-consent-postgres (this one knows up to version {SCHEMA_VERSION}); upgrade the \
         library in this service, or point it at another schema",
        settings.schema,
        settings.server()
    ))
}

/// Creates or migrates the schema to [`SCHEMA_VERSION`]. A schema already
/// current is only read (a role with no CREATE permission can use it).
pub(crate) fn migrate(
    client: &mut Client,
    settings: &Settings,
    replica: &str,
) -> Result<(), ConsentError> {
    let describe = |e: postgres::Error| settings.describe("cannot set up the consent schema", &e);
    match version(client, settings).map_err(describe)? {
        Some(v) if v == SCHEMA_VERSION => return Ok(()),
        Some(v) if v > SCHEMA_VERSION => return Err(newer(settings, v)),
        _ => {}
    }
    let s = &settings.schema;
    let mut tx = client.transaction().map_err(describe)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(s)])
        .map_err(describe)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.meta (
             singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
             schema_version integer NOT NULL,
             last_change bigint NOT NULL DEFAULT 0
         );
         INSERT INTO {s}.meta (singleton, schema_version) VALUES (true, 0)
             ON CONFLICT (singleton) DO NOTHING;
         CREATE TABLE IF NOT EXISTS {s}.migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now(),
             applied_by text NOT NULL
         );"
    ))
    .map_err(describe)?;
    // Under the lock: another replica may have migrated meanwhile.
    let current: i32 = tx
        .query_one(&format!("SELECT schema_version FROM {s}.meta"), &[])
        .map_err(describe)?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(newer(settings, current));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let version = n as i32 + 1;
        tx.batch_execute(&sql.replace("{s}", s)).map_err(describe)?;
        tx.execute(
            &format!("INSERT INTO {s}.migrations (version, applied_by) VALUES ($1, $2)"),
            &[&version, &replica],
        )
        .map_err(describe)?;
        tx.execute(
            &format!("UPDATE {s}.meta SET schema_version = $1"),
            &[&version],
        )
        .map_err(describe)?;
    }
    tx.commit().map_err(describe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_per_schema_and_are_stable() {
        assert_eq!(lock_key("a"), lock_key("a"));
        assert_ne!(lock_key("a"), lock_key("b"));
    }
}
