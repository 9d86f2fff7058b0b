//! An in-memory [`SharedConsentStore`] for tests: several telemetry
//! instances in one process stand in for the replicas of a service.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::category::CategorySet;
use crate::consent::shared::{
    ChangeId, Committed, Feed, FleetAck, OutboxEntry, OutboxId, SharedConsentStore, StoreChange,
    Stored,
};
use crate::error::ConsentError;
use crate::subject::{Choices, SubjectKey};

/// The "database" the replicas share.
#[derive(Default)]
struct Db {
    state: Mutex<DbState>,
    /// Signalled on every commit and load request.
    changed: Condvar,
}

#[derive(Default)]
struct DbState {
    rows: HashMap<SubjectKey, Stored>,
    log: Vec<(ChangeId, SubjectKey, Choices)>,
    audit: Vec<AuditRow>,
    outbox: Vec<(OutboxEntry, Option<usize>, bool)>,
    replicas: Vec<Weak<Replica>>,
    next_replica: usize,
}

/// One audit row: subject, category bit, old and new recorded choice
/// (`granted`, `denied` or `none`), source, replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// The subject.
    pub subject: SubjectKey,
    /// The category's bit.
    pub category: u8,
    /// The recorded choice before.
    pub old: &'static str,
    /// The recorded choice after.
    pub new: &'static str,
    /// Who made the change.
    pub source: String,
    /// The replica that committed it.
    pub replica: usize,
}

/// One replica's connection.
struct Replica {
    id: usize,
    feed: OnceLock<Feed>,
    connected: AtomicBool,
    hold_loads: AtomicBool,
    stopping: AtomicBool,
    position: AtomicU64,
    loads: Mutex<Vec<SubjectKey>>,
}

/// An in-memory shared consent store. [`new`](Self::new) makes the store
/// and one replica's handle to it; [`replica`](Self::replica) another
/// handle to the same store for another telemetry instance (one handle per
/// instance). Each handle runs a thread that applies changes and confirms
/// the view every 20 ms, and answers loads, like a database's change feed.
/// [`set_connected`](Self::set_connected)`(false)` cuts one handle off:
/// its commits and loads fail and its view is no longer confirmed.
#[derive(Clone)]
pub struct SharedMemoryStore {
    db: Arc<Db>,
    replica: Arc<Replica>,
}

impl std::fmt::Debug for SharedMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemoryStore")
            .field("replica", &self.replica.id)
            .finish_non_exhaustive()
    }
}

impl Default for SharedMemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn choice(c: Choices, bit: u8) -> &'static str {
    let mask = 1u64 << bit;
    if c.granted.bits() & mask != 0 {
        "granted"
    } else if c.denied.bits() & mask != 0 {
        "denied"
    } else {
        "none"
    }
}

impl SharedMemoryStore {
    /// A new, empty store and the first replica's handle.
    pub fn new() -> Self {
        let db = Arc::new(Db::default());
        let replica = Self::attach(&db);
        SharedMemoryStore { db, replica }
    }

    /// Another replica's handle to the same store.
    pub fn replica(&self) -> Self {
        SharedMemoryStore {
            db: Arc::clone(&self.db),
            replica: Self::attach(&self.db),
        }
    }

    fn attach(db: &Arc<Db>) -> Arc<Replica> {
        let mut state = lock(&db.state);
        let id = state.next_replica;
        state.next_replica += 1;
        let replica = Arc::new(Replica {
            id,
            feed: OnceLock::new(),
            connected: AtomicBool::new(true),
            hold_loads: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            position: AtomicU64::new(0),
            loads: Mutex::new(Vec::new()),
        });
        state.replicas.push(Arc::downgrade(&replica));
        replica
    }

    /// Connects or cuts off this handle.
    pub fn set_connected(&self, connected: bool) {
        self.replica.connected.store(connected, Ordering::SeqCst);
        self.db.changed.notify_all();
    }

    /// Holds (or releases) the answers to this handle's background loads,
    /// so a test can see a subject whose choices are still loading.
    pub fn hold_loads(&self, hold: bool) {
        self.replica.hold_loads.store(hold, Ordering::SeqCst);
        self.db.changed.notify_all();
    }

    /// What the store holds for `subject`.
    pub fn stored(&self, subject: SubjectKey) -> Stored {
        lock(&self.db.state)
            .rows
            .get(&subject)
            .copied()
            .unwrap_or_default()
    }

    /// Every audit row, oldest first.
    pub fn audit(&self) -> Vec<AuditRow> {
        lock(&self.db.state).audit.clone()
    }

    /// Outbox entries and whether each was reported delivered.
    pub fn outbox(&self) -> Vec<(OutboxEntry, bool)> {
        lock(&self.db.state)
            .outbox
            .iter()
            .map(|(e, _, d)| (e.clone(), *d))
            .collect()
    }

    /// The last change committed.
    pub fn latest(&self) -> ChangeId {
        lock(&self.db.state)
            .log
            .last()
            .map_or(ChangeId(0), |(c, _, _)| *c)
    }

    fn check_connected(&self) -> Result<(), ConsentError> {
        if self.replica.connected.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(ConsentError::new(
                "the in-memory shared store is disconnected",
            ))
        }
    }

    /// The replica's thread: applies the log from its position, answers
    /// loads, confirms the view.
    fn follow(db: &Arc<Db>, replica: &Arc<Replica>) {
        let Some(feed) = replica.feed.get() else {
            return;
        };
        loop {
            if replica.stopping.load(Ordering::SeqCst) || feed.is_closed() {
                return;
            }
            if replica.connected.load(Ordering::SeqCst) {
                let as_of = Instant::now();
                let (news, loads) = {
                    let state = lock(&db.state);
                    let from = replica.position.load(Ordering::SeqCst);
                    let news: Vec<_> = state
                        .log
                        .iter()
                        .filter(|(c, _, _)| c.0 > from)
                        .copied()
                        .collect();
                    let keys = if replica.hold_loads.load(Ordering::SeqCst) {
                        Vec::new()
                    } else {
                        std::mem::take(&mut *lock(&replica.loads))
                    };
                    let loads: Vec<(SubjectKey, Stored)> = keys
                        .into_iter()
                        .map(|k| (k, state.rows.get(&k).copied().unwrap_or_default()))
                        .collect();
                    (news, loads)
                };
                for (change, key, choices) in news {
                    feed.apply(change, key, choices);
                    replica.position.store(change.0, Ordering::SeqCst);
                }
                for (key, stored) in loads {
                    feed.loaded(key, Ok(stored));
                }
                feed.confirm(ChangeId(replica.position.load(Ordering::SeqCst)), as_of);
            }
            let state = lock(&db.state);
            let _ = db.changed.wait_timeout(state, Duration::from_millis(20));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SharedConsentStore for SharedMemoryStore {
    fn start(&self, feed: Feed) -> Result<(), ConsentError> {
        self.check_connected()?;
        let latest = self.latest();
        self.replica.position.store(latest.0, Ordering::SeqCst);
        feed.confirm(latest, Instant::now());
        if self.replica.feed.set(feed).is_err() {
            return Err(ConsentError::new(
                "this SharedMemoryStore handle is already started; give each telemetry instance \
                 its own handle (SharedMemoryStore::replica)",
            ));
        }
        let (db, replica) = (Arc::clone(&self.db), Arc::clone(&self.replica));
        std::thread::Builder::new()
            .name("shared-memory-store".into())
            .spawn(move || Self::follow(&db, &replica))
            .map(|_| ())
            .map_err(|e| ConsentError::new(format!("cannot start the feed thread: {e}")))
    }

    fn request_load(&self, subject: SubjectKey) -> bool {
        lock(&self.replica.loads).push(subject);
        self.db.changed.notify_all();
        true
    }

    fn load(&self, subject: SubjectKey, _timeout: Duration) -> Result<Stored, ConsentError> {
        self.check_connected()?;
        Ok(self.stored(subject))
    }

    fn commit(&self, change: &StoreChange<'_>) -> Result<Committed, ConsentError> {
        self.check_connected()?;
        let mut state = lock(&self.db.state);
        let old = state.rows.get(&change.subject).copied().unwrap_or_default();
        let bits = |c: CategorySet| c.bits();
        let new = Choices {
            granted: CategorySet::from_bits(
                (bits(old.choices.granted) | bits(change.grant)) & !bits(change.deny),
            ),
            denied: CategorySet::from_bits(
                (bits(old.choices.denied) | bits(change.deny)) & !bits(change.grant),
            ),
        };
        let id = ChangeId(state.log.last().map_or(0, |(c, _, _)| c.0) + 1);
        state.rows.insert(
            change.subject,
            Stored {
                choices: new,
                change: id,
            },
        );
        state.log.push((id, change.subject, new));
        for bit in 0..64u8 {
            let (before, after) = (choice(old.choices, bit), choice(new, bit));
            if before != after {
                state.audit.push(AuditRow {
                    subject: change.subject,
                    category: bit,
                    old: before,
                    new: after,
                    source: change.source.as_str().to_owned(),
                    replica: self.replica.id,
                });
            }
        }
        let outbox = change.deletion.map(|categories| {
            let oid = OutboxId(state.outbox.len() as u64 + 1);
            let entry = OutboxEntry {
                id: oid,
                change: id,
                subject: change.subject,
                categories: categories
                    .iter()
                    .map(|c| change.names.name(c).into_owned())
                    .collect(),
                source: change.source.as_str().to_owned(),
                time: change.time,
            };
            state.outbox.push((entry, Some(self.replica.id), false));
            oid
        });
        drop(state);
        self.db.changed.notify_all();
        Ok(Committed {
            change: id,
            old: old.choices,
            new,
            outbox,
        })
    }

    fn wait_applied(&self, change: ChangeId, timeout: Duration) -> Result<FleetAck, ConsentError> {
        let deadline = Instant::now() + timeout;
        loop {
            let live: Vec<Arc<Replica>> = lock(&self.db.state)
                .replicas
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|r| {
                    r.feed.get().is_some_and(|f| !f.is_closed())
                        && r.connected.load(Ordering::SeqCst)
                        && !r.stopping.load(Ordering::SeqCst)
                })
                .collect();
            let lagging = live
                .iter()
                .filter(|r| r.feed.get().is_some_and(|f| f.applied() < change))
                .count();
            if lagging == 0 {
                return Ok(FleetAck {
                    replicas: live.len(),
                });
            }
            if Instant::now() >= deadline {
                return Err(ConsentError::new(format!(
                    "{lagging} of {} live replicas have not applied change {} within {timeout:?}",
                    live.len(),
                    change.0
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn claim_undelivered(&self) -> Result<Vec<OutboxEntry>, ConsentError> {
        self.check_connected()?;
        let mut state = lock(&self.db.state);
        let live: Vec<usize> = state
            .replicas
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|r| !r.stopping.load(Ordering::SeqCst))
            .map(|r| r.id)
            .collect();
        let me = self.replica.id;
        let mut claimed = Vec::new();
        for (entry, owner, delivered) in state.outbox.iter_mut() {
            if !*delivered && owner.is_none_or(|o| !live.contains(&o)) {
                *owner = Some(me);
                claimed.push(entry.clone());
            }
        }
        Ok(claimed)
    }

    fn delivered(&self, outbox: OutboxId) {
        let mut state = lock(&self.db.state);
        if let Some((_, _, delivered)) = state.outbox.iter_mut().find(|(e, _, _)| e.id == outbox) {
            *delivered = true;
        }
    }

    fn stop(&self) {
        self.replica.stopping.store(true, Ordering::SeqCst);
        self.db.changed.notify_all();
    }
}
