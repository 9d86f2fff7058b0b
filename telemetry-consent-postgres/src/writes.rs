//! What the store does on one connection at a caller's request: commit a
//! change (choices, change log, audit rows, outbox entry and notification
//! in one transaction, numbered in commit order), load subjects, wait for
//! the replicas' acknowledgements, claim and settle outbox entries.

use std::time::{Duration, Instant, SystemTime};

use postgres::{Client, GenericClient};
use telemetry_core::Category;
use telemetry_core::consent::shared::{
    ChangeId, Committed, FleetAck, OutboxEntry, OutboxId, StoreChange, Stored, StoredChange,
};
use telemetry_core::export::SubjectKey;

use crate::rows;
use crate::settings::Settings;

/// A failure on the connection, or a row that does not decode.
pub(crate) enum Failure {
    Db(postgres::Error),
    Row(&'static str),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Db(e)
    }
}

/// Commits one change. The first statement takes the row lock of the
/// change counter, so commits run one after the other and change numbers
/// follow commit order without gaps: a replica that has read change `n`
/// has every change before it.
pub(crate) fn commit(
    client: &mut Client,
    settings: &Settings,
    replica: &str,
    change: &StoreChange<'_>,
) -> Result<Committed, Failure> {
    let t = |name: &str| settings.table(name);
    let mut tx = client.transaction()?;
    let id: i64 = tx
        .query_one(
            &format!(
                "UPDATE {} SET last_change = last_change + 1 RETURNING last_change",
                t("meta")
            ),
            &[],
        )?
        .get(0);
    let key: &[u8] = &change.subject.0;
    let old = tx
        .query_opt(
            &format!(
                "SELECT granted, denied FROM {} WHERE subject_key = $1 FOR UPDATE",
                t("subjects")
            ),
            &[&key],
        )?
        .map(|r| rows::choices(r.get(0), r.get(1)))
        .unwrap_or_default();
    let new = rows::applied(old, change.grant, change.deny);
    let (granted, denied) = (
        rows::mask_to_sql(new.granted),
        rows::mask_to_sql(new.denied),
    );
    tx.execute(
        &format!(
            "INSERT INTO {} (subject_key, granted, denied, change, updated_at)
             VALUES ($1, $2, $3, $4, now())
             ON CONFLICT (subject_key) DO UPDATE
             SET granted = excluded.granted, denied = excluded.denied,
                 change = excluded.change, updated_at = now()",
            t("subjects")
        ),
        &[&key, &granted, &denied, &id],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO {} (change, subject_key, granted, denied, replica)
             VALUES ($1, $2, $3, $4, $5)",
            t("changes")
        ),
        &[&id, &key, &granted, &denied, &replica],
    )?;
    let source = change.source.as_str();
    let policy_version = i32::try_from(change.policy_version).unwrap_or(i32::MAX);
    for category in
        telemetry_core::CategorySet::from_bits(change.grant.bits() | change.deny.bits()).iter()
    {
        let bit = category.bit();
        let (before, after) = (rows::choice_name(old, bit), rows::choice_name(new, bit));
        if before == after {
            continue;
        }
        let name = change.names.name(category).into_owned();
        tx.execute(
            &format!(
                "INSERT INTO {} (change, subject_key, category, category_bit, old_choice,
                     new_choice, source, policy_version, changed_at, replica)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                t("audit")
            ),
            &[
                &id,
                &key,
                &name,
                &i16::from(bit),
                &before,
                &after,
                &source,
                &policy_version,
                &change.time,
                &replica,
            ],
        )?;
    }
    let outbox = match change.deletion {
        Some(categories) => {
            let names: Vec<String> = categories
                .iter()
                .map(|c| change.names.name(c).into_owned())
                .collect();
            let lease = settings.outbox_lease.as_secs_f64();
            let row = tx.query_one(
                &format!(
                    "INSERT INTO {} (change, subject_key, categories, source, requested_at,
                         claimed_by, claimed_until)
                     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
                     RETURNING id",
                    t("outbox")
                ),
                &[
                    &id,
                    &key,
                    &names.join(","),
                    &source,
                    &change.time,
                    &replica,
                    &lease,
                ],
            )?;
            let oid: i64 = row.get(0);
            Some(OutboxId(
                u64::try_from(oid).map_err(|_| Failure::Row("outbox id"))?,
            ))
        }
        None => None,
    };
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&settings.channel(), &id.to_string()],
    )?;
    tx.commit()?;
    Ok(Committed {
        change: rows::change_id(id).ok_or(Failure::Row("change number"))?,
        old,
        new,
        outbox,
    })
}

/// Loads subjects' stored choices (a subject without a row has none).
pub(crate) fn load(
    client: &mut impl GenericClient,
    settings: &Settings,
    keys: &[SubjectKey],
) -> Result<Vec<(SubjectKey, Stored)>, Failure> {
    let wanted: Vec<&[u8]> = keys.iter().map(|k| &k.0[..]).collect();
    let found = client.query(
        &format!(
            "SELECT subject_key, granted, denied, change FROM {} WHERE subject_key = ANY($1)",
            settings.table("subjects")
        ),
        &[&wanted],
    )?;
    let mut out: Vec<(SubjectKey, Stored)> = keys.iter().map(|k| (*k, Stored::default())).collect();
    for row in found {
        let key = rows::subject_key(row.get::<_, &[u8]>(0)).ok_or(Failure::Row("subject key"))?;
        let stored = Stored {
            choices: rows::choices(row.get(1), row.get(2)),
            change: rows::change_id(row.get(3)).ok_or(Failure::Row("change number"))?,
        };
        for (k, s) in out.iter_mut() {
            if *k == key {
                *s = stored;
            }
        }
    }
    Ok(out)
}

/// The subject's audit rows, the most recent `limit`, oldest first. A row
/// naming an unknown category bit or choice is reported, never a panic.
pub(crate) fn history(
    client: &mut impl GenericClient,
    settings: &Settings,
    key: SubjectKey,
    limit: usize,
) -> Result<Vec<StoredChange>, Failure> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let found = client.query(
        &format!(
            "SELECT category_bit, old_choice, new_choice, source, policy_version, changed_at
             FROM (SELECT * FROM {} WHERE subject_key = $1 ORDER BY id DESC LIMIT $2) recent
             ORDER BY id",
            settings.table("audit")
        ),
        &[&&key.0[..], &limit],
    )?;
    let choice = |name: &str| match name {
        "granted" => Ok(Some(true)),
        "denied" => Ok(Some(false)),
        "none" => Ok(None),
        _ => Err(Failure::Row("audit choice")),
    };
    found
        .iter()
        .map(|row| {
            let bit: i16 = row.try_get(0)?;
            let category = u8::try_from(bit)
                .ok()
                .and_then(Category::from_bit)
                .ok_or(Failure::Row("audit category bit"))?;
            let policy_version: i32 = row.try_get(4)?;
            Ok(StoredChange {
                category,
                old: choice(row.try_get(1)?)?,
                new: choice(row.try_get(2)?)?,
                source: row.try_get::<_, String>(3)?,
                policy_version: u32::try_from(policy_version).unwrap_or(0),
                time: row.try_get::<_, SystemTime>(5)?,
            })
        })
        .collect()
}

/// Waits until every live replica (heartbeat within `liveness`) has
/// applied `change`, polling every 20 ms until `deadline`. Gives the live
/// replicas, or (at the deadline) how many lag and how many are live.
pub(crate) fn wait_applied(
    client: &mut Client,
    settings: &Settings,
    change: ChangeId,
    deadline: Instant,
) -> Result<Result<FleetAck, (i64, i64)>, Failure> {
    let id = rows::change_to_sql(change);
    let liveness = settings.liveness.as_secs_f64();
    loop {
        let row = client.query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE applied_change < $1), count(*) FROM {}
                 WHERE heartbeat_at > now() - make_interval(secs => $2)",
                settings.table("replicas")
            ),
            &[&id, &liveness],
        )?;
        let (lagging, live): (i64, i64) = (row.get(0), row.get(1));
        if lagging == 0 {
            return Ok(Ok(FleetAck {
                replicas: usize::try_from(live).unwrap_or(0),
            }));
        }
        if Instant::now() >= deadline {
            return Ok(Err((lagging, live)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Claims undelivered outbox entries whose claim lapsed (their replica
/// stopped, or could not deliver within the lease), for `replica`.
pub(crate) fn claim(
    client: &mut Client,
    settings: &Settings,
    replica: &str,
) -> Result<Vec<OutboxEntry>, Failure> {
    let outbox = settings.table("outbox");
    let lease = settings.outbox_lease.as_secs_f64();
    let rows = client.query(
        &format!(
            "UPDATE {outbox} SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2)
             WHERE id IN (
                 SELECT id FROM {outbox}
                 WHERE delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                 ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)
             RETURNING id, change, subject_key, categories, source, requested_at"
        ),
        &[&replica, &lease],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.get(0);
        let categories: String = row.get(3);
        out.push(OutboxEntry {
            id: OutboxId(u64::try_from(id).map_err(|_| Failure::Row("outbox id"))?),
            change: rows::change_id(row.get(1)).ok_or(Failure::Row("change number"))?,
            subject: rows::subject_key(row.get::<_, &[u8]>(2))
                .ok_or(Failure::Row("subject key"))?,
            categories: categories
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            source: row.get(4),
            time: row.get::<_, SystemTime>(5),
        });
    }
    Ok(out)
}

/// Marks outbox entries delivered.
pub(crate) fn settle(
    client: &mut Client,
    settings: &Settings,
    delivered: &[OutboxId],
) -> Result<(), Failure> {
    let ids: Vec<i64> = delivered
        .iter()
        .filter_map(|d| i64::try_from(d.0).ok())
        .collect();
    client.execute(
        &format!(
            "UPDATE {} SET delivered_at = now() WHERE id = ANY($1) AND delivered_at IS NULL",
            settings.table("outbox")
        ),
        &[&ids],
    )?;
    Ok(())
}
