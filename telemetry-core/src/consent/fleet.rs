//! A shared consent store seen from one process: how fresh the view is, the
//! changes the store's feed brings (applied to the cached subjects, with a
//! purge when they revoke), the loads it answers, changes made here
//! (a grant committed first, a revocation applied first), revocations
//! waiting to be committed, and the two threads that keep it all going:
//! the watchdog, which turns the view stale when the store goes quiet and
//! never waits on the store, and the upkeep thread, which retries
//! revocations and sends deletion requests other processes left behind.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use crate::category::{Category, CategoryNames, CategorySet};
use crate::consent::audit::{ConsentChange, ConsentSource};
use crate::consent::records::deletion_record;
use crate::consent::registry::{Change, ConsentRegistry};
use crate::consent::shared::{
    ChangeId, Committed, Feed, FeedTarget, Freshness, OutboxId, StoreChange, Stored,
};
use crate::consent::view::{FleetView, Pending};
use crate::error::ConsentError;
use crate::instance::Inner;
use crate::subject::state::LOADED;
use crate::subject::{Choices, SubjectKey, SubjectState};

/// Revocations kept for a retry when the store cannot take them.
const MAX_PENDING: usize = 100_000;

/// How often the upkeep thread retries revocations.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// How often the upkeep thread claims deletion requests left behind.
const CLAIM_EVERY: Duration = Duration::from_secs(60);

/// How long stopping waits for the watchdog and upkeep threads to end.
/// Told to stop, they end at once unless one is inside a store call; a
/// call the store never answers is not waited for (the thread is left to
/// end by itself when the call returns), so a hung store holds up
/// `shutdown` by at most this.
const STOP_GRACE: Duration = Duration::from_millis(100);

/// What a change made here did.
pub(crate) struct Outcome {
    /// Its audit entries (already in the trail and counted).
    pub(crate) changes: Vec<ConsentChange>,
    /// Its number in the shared store, once committed.
    pub(crate) change: Option<ChangeId>,
    /// Its deletion request's outbox entry, once committed.
    pub(crate) outbox: Option<OutboxId>,
}

impl Outcome {
    /// A change to a local store: no change number, no outbox.
    pub(crate) fn local(changes: Vec<ConsentChange>) -> Self {
        Outcome {
            changes,
            change: None,
            outbox: None,
        }
    }
}

impl ConsentRegistry {
    fn view(&self) -> Option<&FleetView> {
        self.fleet()
    }

    /// How fresh the view of a shared store is (a local store is always
    /// current).
    pub(crate) fn freshness(&self) -> Freshness {
        self.view().map_or(
            Freshness {
                stale: false,
                applied: ChangeId(0),
                age: Some(Duration::ZERO),
            },
            FleetView::freshness,
        )
    }

    /// The store confirmed every change through `through`, current as of
    /// `as_of`.
    pub(crate) fn confirm(&self, through: ChangeId, as_of: Instant) {
        let Some(view) = self.view() else {
            return;
        };
        view.applied.fetch_max(through.0, Ordering::SeqCst);
        let nanos = as_of.saturating_duration_since(view.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        view.confirmed_at.fetch_max(nanos, Ordering::SeqCst);
        if view.is_stale() {
            self.check_freshness();
        }
    }

    /// Turns the view stale or fresh if its age says so, setting every
    /// mask again. Gives `Some(true)` when it turned stale.
    pub(crate) fn check_freshness(&self) -> Option<bool> {
        let view = self.view()?;
        let _one_at_a_time = view.transition.lock().unwrap_or_else(|p| p.into_inner());
        let stale = view.too_old(Instant::now());
        if view.stale.load(Ordering::SeqCst) == stale {
            return None;
        }
        // Between the flag and the masks, refusals count as unconfirmed.
        view.settling.store(true, Ordering::SeqCst);
        view.stale.store(stale, Ordering::SeqCst);
        self.publish_all();
        view.settling.store(false, Ordering::SeqCst);
        Some(stale)
    }

    /// `choices` with the revocations still waiting to be committed laid
    /// over them, so news from the store cannot undo them meanwhile.
    fn with_pending(&self, view: &FleetView, key: SubjectKey, mut choices: Choices) -> Choices {
        if view.pending_len.load(Ordering::SeqCst) == 0 {
            return choices;
        }
        let pending = view.pending.lock().unwrap_or_else(|p| p.into_inner());
        for p in pending.iter().filter(|p| p.key == key) {
            choices = Change::Deny.applied_to(choices, p.deny);
        }
        choices
    }

    /// Takes the stored `choices` written by `change` for `state`, unless
    /// it already holds newer ones; gives the categories it lost.
    fn adopt(
        &self,
        view: &FleetView,
        state: &SubjectState,
        change: ChangeId,
        choices: Choices,
    ) -> u64 {
        let Ok(mut held) = state.choices.lock() else {
            return 0;
        };
        let newer = change.0 > state.change.load(Ordering::SeqCst)
            || (change.0 == 0 && state.unconfirmed());
        if !newer {
            if state.unconfirmed() {
                // The same or older news than what it holds: its choices
                // are known all the same.
                return self.publish_loaded(state, *held);
            }
            return 0;
        }
        let choices = self.with_pending(view, state.key, choices);
        *held = choices;
        state.change.store(change.0, Ordering::SeqCst);
        self.publish_loaded(state, choices)
    }

    /// Sets the masks of a subject whose choices are now known, then marks
    /// it loaded: whoever sees it loaded (a `prefetch` waiting for it) sees
    /// its masks set, so the first record after a prefetch is not refused.
    fn publish_loaded(&self, state: &SubjectState, choices: Choices) -> u64 {
        let removed = self.publish_as(state, choices, false);
        state.load.store(LOADED, Ordering::Release);
        removed
    }

    /// Applies a change from the feed to a cached subject; gives the
    /// categories the subject lost.
    fn apply_remote(&self, change: ChangeId, key: SubjectKey, choices: Choices) -> u64 {
        let Some(view) = self.view() else {
            return 0;
        };
        let state = self.map.pin().get(&key).map(Arc::clone);
        let removed = state.map_or(0, |s| self.adopt(view, &s, change, choices));
        view.applied.fetch_max(change.0, Ordering::SeqCst);
        removed
    }

    /// Takes the answer to a load.
    fn take_loaded(&self, key: SubjectKey, result: Result<Stored, ConsentError>) {
        let Some(view) = self.view() else {
            return;
        };
        let Some(state) = self.map.pin().get(&key).map(Arc::clone) else {
            return;
        };
        match result {
            Ok(stored) => {
                self.adopt(view, &state, stored.change, stored.choices);
                if state.active.load(Ordering::SeqCst) > 0 {
                    self.coverage.observe(key, state.allowed());
                }
            }
            Err(_) => {
                // Asked for again at its next sighting.
                let _ = state.load.compare_exchange(
                    crate::subject::state::LOADING,
                    crate::subject::state::UNLOADED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
        }
    }

    /// Loads a subject's choices now, within `timeout` (or keeps what the
    /// cache holds if they are known).
    pub(crate) fn load_now(&self, key: SubjectKey, timeout: Duration) -> Result<(), ConsentError> {
        let Some(view) = self.view() else {
            return Ok(());
        };
        let state = self.state_for(key);
        if !state.unconfirmed() {
            return Ok(());
        }
        let stored = view.store.load(key, timeout)?;
        self.adopt(view, &state, stored.change, stored.choices);
        Ok(())
    }

    /// Changes a subject's choices in the shared store: a grant is
    /// committed, then applied here; a revocation is applied here, then
    /// committed (and kept for a retry if the store cannot take it: the
    /// error says so).
    pub(crate) fn change_shared(
        &self,
        key: SubjectKey,
        categories: CategorySet,
        change: Change,
        source: &ConsentSource,
        names: &CategoryNames,
        deletion: Option<CategorySet>,
    ) -> (Outcome, Result<(), ConsentError>) {
        let empty = Outcome {
            changes: Vec::new(),
            change: None,
            outbox: None,
        };
        let Some(view) = self.view() else {
            return (empty, Err(ConsentError::new("no shared consent store")));
        };
        let categories = categories.without(Category::TELEMETRY);
        let time = SystemTime::now();
        let (grant, deny) = match change {
            Change::Grant => (categories, CategorySet::EMPTY),
            Change::Deny => (CategorySet::EMPTY, categories),
        };
        let request = |deletion| StoreChange {
            subject: key,
            grant,
            deny,
            source,
            policy_version: self.policy.policy_version(),
            time,
            names,
            deletion,
        };
        let state = self.state_for(key);
        let mut local = None;
        let mut pending_id = None;
        if change == Change::Deny {
            // Pending first, so news from the store cannot undo it, then in
            // force here before the store hears of it.
            pending_id = self.push_pending(view, key, categories, source, time);
            if let Ok(mut held) = state.choices.lock() {
                let old = *held;
                let new = Change::Deny.applied_to(old, categories);
                *held = new;
                self.publish(&state, new);
                local = Some((old, new));
            }
        }
        match view.store.commit(&request(deletion)) {
            Ok(Committed {
                change: id,
                old,
                new,
                outbox,
            }) => {
                if let Some(id) = pending_id {
                    self.remove_pending(view, id);
                }
                self.adopt(view, &state, id, new);
                let changes = self.audit_changes(key, old, new, categories, change, source);
                (
                    Outcome {
                        changes,
                        change: Some(id),
                        outbox,
                    },
                    Ok(()),
                )
            }
            Err(e) => {
                let Some((old, new)) = local else {
                    return (empty, Err(e));
                };
                let changes = self.audit_changes(key, old, new, categories, change, source);
                let kept = if pending_id.is_some() {
                    "it is in force in this process and will be committed when the store is back"
                } else {
                    "it is in force in this process only: too many revocations are waiting"
                };
                (
                    Outcome {
                        changes,
                        change: None,
                        outbox: None,
                    },
                    Err(ConsentError::new(format!(
                        "the revocation could not be committed to the shared consent store ({e}); {kept}"
                    ))),
                )
            }
        }
    }

    fn push_pending(
        &self,
        view: &FleetView,
        key: SubjectKey,
        deny: CategorySet,
        source: &ConsentSource,
        time: SystemTime,
    ) -> Option<u64> {
        let mut pending = view.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= MAX_PENDING {
            return None;
        }
        let id = view.next_pending.fetch_add(1, Ordering::Relaxed);
        pending.push(Pending {
            id,
            key,
            deny,
            source: source.clone(),
            time,
        });
        view.pending_len.store(pending.len(), Ordering::SeqCst);
        Some(id)
    }

    fn remove_pending(&self, view: &FleetView, id: u64) {
        let mut pending = view.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|p| p.id != id);
        view.pending_len.store(pending.len(), Ordering::SeqCst);
    }

    /// Commits the revocations that wait for the store, oldest first;
    /// stops at the first failure.
    fn retry_pending(&self, names: &CategoryNames) {
        let Some(view) = self.view() else {
            return;
        };
        if view.pending_len.load(Ordering::SeqCst) == 0 {
            return;
        }
        let waiting: Vec<Pending> = view
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for p in waiting {
            if view.stopping.load(Ordering::SeqCst) {
                return;
            }
            let request = StoreChange {
                subject: p.key,
                grant: CategorySet::EMPTY,
                deny: p.deny,
                source: &p.source,
                policy_version: self.policy.policy_version(),
                time: p.time,
                names,
                // Its deletion request went out when it was made.
                deletion: None,
            };
            match view.store.commit(&request) {
                Ok(c) => {
                    self.remove_pending(view, p.id);
                    if let Some(state) = self.map.pin().get(&p.key).map(Arc::clone) {
                        self.adopt(view, &state, c.change, c.new);
                    }
                }
                Err(_) => return,
            }
        }
    }
}

impl FeedTarget for Inner {
    fn apply(&self, change: ChangeId, key: SubjectKey, choices: Choices) {
        if self.consent().apply_remote(change, key, choices) != 0 {
            self.pipeline().purge(self, key);
        }
    }

    fn loaded(&self, key: SubjectKey, result: Result<Stored, ConsentError>) {
        self.consent().take_loaded(key, result);
    }

    fn confirm(&self, through: ChangeId, as_of: Instant) {
        self.consent().confirm(through, as_of);
    }

    fn applied(&self) -> ChangeId {
        self.consent().freshness().applied
    }
}

/// Starts the shared store (if the instance has one) and the threads that
/// watch it. An error leaves nothing running.
pub(crate) fn start(inner: &Arc<Inner>) -> Result<(), ConsentError> {
    let Some(view) = inner.consent().fleet() else {
        return Ok(());
    };
    let target: Weak<dyn FeedTarget> = Arc::downgrade(inner) as Weak<dyn FeedTarget>;
    let feed = Feed {
        target,
        instance_id: inner
            .resource()
            .get("service.instance.id")
            .map(|v| v.render().into_owned()),
    };
    view.store.start(feed)?;
    let weak = Arc::downgrade(inner);
    let watchdog = std::thread::Builder::new()
        .name("telemetry-consent-watchdog".into())
        .spawn(move || watchdog(&weak));
    let weak = Arc::downgrade(inner);
    let upkeep = std::thread::Builder::new()
        .name("telemetry-consent-upkeep".into())
        .spawn(move || upkeep(&weak));
    match (watchdog, upkeep) {
        (Ok(w), Ok(u)) => {
            if let Ok(mut threads) = view.threads.lock() {
                threads.push(w);
                threads.push(u);
            }
            Ok(())
        }
        (w, u) => {
            view.stopping.store(true, Ordering::SeqCst);
            view.store.stop();
            join_within([w, u].into_iter().flatten().collect(), STOP_GRACE);
            Err(ConsentError::new(
                "cannot start the consent store's watchdog threads",
            ))
        }
    }
}

/// Stops the store and its threads (at shutdown).
pub(crate) fn stop(inner: &Inner) {
    let Some(view) = inner.consent().fleet() else {
        return;
    };
    if view.stopping.swap(true, Ordering::SeqCst) {
        return;
    }
    view.store.stop();
    let threads = std::mem::take(&mut *view.threads.lock().unwrap_or_else(|p| p.into_inner()));
    join_within(threads, STOP_GRACE);
}

/// Wakes `threads` (told to stop already) and joins those that end within
/// `grace`. The others are detached, not waited for: one stuck in a store
/// call that never returns must not hold up shutdown, and it ends by
/// itself once the call returns (it checks `stopping` after every call).
/// A thread that ends the instance (the last handle dropped on it) cannot
/// wait for itself, so it is never joined either.
fn join_within(threads: Vec<std::thread::JoinHandle<()>>, grace: Duration) {
    for t in &threads {
        t.thread().unpark();
    }
    let deadline = Instant::now() + grace;
    let me = std::thread::current().id();
    for t in threads {
        if t.thread().id() == me {
            continue;
        }
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if t.is_finished() {
            let _ = t.join();
        }
        // Otherwise dropping the handle detaches the thread.
    }
}

/// Turns the view stale when the store has not confirmed it in time (and
/// drops what is buffered in required categories), fresh when it has.
/// Never waits on the store.
fn watchdog(weak: &Weak<Inner>) {
    loop {
        let tick = {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let Some(view) = inner.consent().fleet() else {
                return;
            };
            if view.stopping.load(Ordering::SeqCst) {
                return;
            }
            if inner.consent().check_freshness() == Some(true) {
                inner.pipeline().purge_all(&*inner);
            }
            view.tick()
        };
        std::thread::park_timeout(tick);
    }
}

/// Retries revocations the store could not take and sends the deletion
/// requests of processes that stopped before delivering them.
fn upkeep(weak: &Weak<Inner>) {
    let mut next_claim = Instant::now();
    loop {
        {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let Some(view) = inner.consent().fleet() else {
                return;
            };
            if view.stopping.load(Ordering::SeqCst) {
                return;
            }
            inner.consent().retry_pending(inner.names());
            if Instant::now() >= next_claim {
                next_claim = Instant::now() + CLAIM_EVERY;
                if let Ok(entries) = view.store.claim_undelivered() {
                    for e in entries {
                        let record =
                            deletion_record(e.subject, &e.categories.join(","), &e.source, e.time);
                        inner.pipeline().push_outbox(&*inner, record, e.id.0);
                    }
                }
            }
        }
        std::thread::park_timeout(RETRY_EVERY);
    }
}
