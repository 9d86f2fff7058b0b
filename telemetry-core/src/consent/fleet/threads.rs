//! The threads that keep a shared store's view going, and starting and
//! stopping them with the store: the watchdog, which turns the view stale
//! when the store goes quiet (never waiting on the store), and the upkeep
//! thread, which retries revocations and sends the deletion requests other
//! processes left behind. Stopping waits for them only briefly.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::consent::records::deletion_record;
use crate::consent::shared::{Feed, FeedTarget};
use crate::error::ConsentError;
use crate::instance::Inner;

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

/// The instance, while it lives, has a fleet view and is not stopping:
/// what the fleet threads check before each round.
fn running(weak: &Weak<Inner>) -> Option<Arc<Inner>> {
    let inner = weak.upgrade()?;
    let stopping = inner.consent().fleet()?.stopping.load(Ordering::SeqCst);
    (!stopping).then_some(inner)
}

/// Turns the view stale when the store has not confirmed it in time (and
/// drops what is buffered in required categories), fresh when it has.
/// Never waits on the store.
fn watchdog(weak: &Weak<Inner>) {
    loop {
        let tick = {
            let Some(inner) = running(weak) else {
                return;
            };
            let Some(view) = inner.consent().fleet() else {
                return;
            };
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
            let Some(inner) = running(weak) else {
                return;
            };
            let Some(view) = inner.consent().fleet() else {
                return;
            };
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
