//! The change feed: one connection that `LISTEN`s for new changes, reads
//! the change log after its position (so a notification missed while
//! disconnected is never lost), applies each change in order, confirms the
//! view, and keeps this replica's acknowledgement row current. It
//! reconnects by itself, backing off up to two seconds.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use telemetry_core::ConsentError;
use telemetry_core::consent::shared::{ChangeId, Feed};

use crate::Shared;
use crate::rows;

/// Changes read per query while catching up.
const PAGE: i64 = 10_000;

/// Opens the feed's connection and listens on the change channel.
pub(crate) fn listen(shared: &Shared) -> Result<Client, ConsentError> {
    let settings = &shared.settings;
    let mut client = settings.connect()?;
    client
        .batch_execute(&format!("LISTEN {}", settings.channel()))
        .map_err(|e| settings.describe("cannot listen for consent changes", &e))?;
    Ok(client)
}

/// The last change committed (where a new replica starts: its cache is
/// empty, so older changes concern nothing it holds).
pub(crate) fn latest(shared: &Shared, client: &mut Client) -> Result<i64, ConsentError> {
    let settings = &shared.settings;
    client
        .query_one(
            &format!("SELECT last_change FROM {}", settings.table("meta")),
            &[],
        )
        .map(|r| r.get(0))
        .map_err(|e| settings.describe("cannot read the change log", &e))
}

/// Applies every change after `position`, in order; gives how many.
fn catch_up(
    shared: &Shared,
    client: &mut Client,
    feed: &Feed,
    position: &mut i64,
) -> Result<u64, postgres::Error> {
    let mut applied = 0u64;
    loop {
        let rows = client.query(
            &format!(
                "SELECT change, subject_key, granted, denied FROM {}
                 WHERE change > $1 ORDER BY change LIMIT $2",
                shared.settings.table("changes")
            ),
            &[&*position, &PAGE],
        )?;
        let n = rows.len();
        for row in rows {
            let change: i64 = row.get(0);
            let key = rows::subject_key(row.get::<_, &[u8]>(1));
            match (rows::change_id(change), key) {
                (Some(id), Some(key)) => {
                    feed.apply(id, key, rows::choices(row.get(2), row.get(3)));
                    applied += 1;
                }
                _ => {
                    shared.status.malformed_rows.fetch_add(1, Ordering::Relaxed);
                }
            }
            *position = change.max(*position);
        }
        if n < PAGE as usize {
            return Ok(applied);
        }
    }
}

/// Records that this replica is alive and has applied `position`.
pub(crate) fn heartbeat(
    shared: &Shared,
    client: &mut Client,
    position: i64,
) -> Result<(), postgres::Error> {
    client.execute(
        &format!(
            "INSERT INTO {} (replica, heartbeat_at, applied_change) VALUES ($1, now(), $2)
             ON CONFLICT (replica) DO UPDATE
             SET heartbeat_at = now(), applied_change = excluded.applied_change",
            shared.settings.table("replicas")
        ),
        &[&shared.replica(), &position],
    )?;
    Ok(())
}

/// Waits for a notification (or the poll interval), then takes every
/// notification already there.
fn wait(client: &mut Client, poll: Duration) -> Result<(), postgres::Error> {
    let mut notifications = client.notifications();
    if notifications.timeout_iter(poll).next()?.is_some() {
        let mut more = notifications.iter();
        while more.next()?.is_some() {}
    }
    Ok(())
}

/// Sleeps `d` in short steps, returning early when the store stops.
fn pause(shared: &Shared, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until && !shared.stopping.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The feed thread.
pub(crate) fn run(shared: &Arc<Shared>, feed: &Feed, client: Client, mut position: i64) {
    let mut client = Some(client);
    let mut backoff = Duration::from_millis(100);
    let mut last_beat: Option<(Instant, i64)> = None;
    loop {
        if shared.stopping.load(Ordering::SeqCst) || feed.is_closed() {
            // Leave the acknowledgement table: a stopped replica is not
            // waited for.
            if let Some(c) = client.as_mut() {
                let _ = c.execute(
                    &format!(
                        "DELETE FROM {} WHERE replica = $1",
                        shared.settings.table("replicas")
                    ),
                    &[&shared.replica()],
                );
            }
            return;
        }
        let Some(c) = client.as_mut() else {
            match listen(shared) {
                Ok(c) => {
                    client = Some(c);
                    backoff = Duration::from_millis(100);
                    shared.status.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    shared.status.failed(&e);
                    pause(shared, backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
            continue;
        };
        let as_of = Instant::now();
        let caught_up = catch_up(shared, c, feed, &mut position);
        if let Err(e) = caught_up {
            shared
                .status
                .failed(shared.settings.describe("cannot read the change log", &e));
            shared.status.connected.store(false, Ordering::SeqCst);
            client = None;
            continue;
        }
        feed.confirm(ChangeId(u64::try_from(position).unwrap_or(0)), as_of);
        shared.status.connected.store(true, Ordering::SeqCst);
        shared
            .status
            .applied
            .store(u64::try_from(position).unwrap_or(0), Ordering::SeqCst);
        let beat_due = last_beat.is_none_or(|(at, applied)| {
            applied != position || at.elapsed() >= shared.settings.heartbeat
        });
        if beat_due {
            if let Err(e) = heartbeat(shared, c, position) {
                shared
                    .status
                    .failed(shared.settings.describe("cannot record the heartbeat", &e));
                client = None;
                continue;
            }
            last_beat = Some((Instant::now(), position));
        }
        if let Err(e) = wait(c, shared.settings.poll_interval) {
            shared.status.failed(
                shared
                    .settings
                    .describe("lost the change notifications", &e),
            );
            shared.status.connected.store(false, Ordering::SeqCst);
            client = None;
        }
    }
}
