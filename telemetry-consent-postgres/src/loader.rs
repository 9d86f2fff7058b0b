//! The loader: one connection that answers the core's requests for
//! subjects' choices in batches, and marks outbox entries delivered. A
//! request it cannot answer is answered with an error (the subject stays
//! fail-closed and is asked for again); a delivery it cannot record is
//! kept and recorded later.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use postgres::Client;
use telemetry_core::ConsentError;
use telemetry_core::consent::shared::{Feed, OutboxId};
use telemetry_core::export::SubjectKey;

use crate::Shared;
use crate::writes::{self, Failure};

/// Subjects loaded per query.
const BATCH: usize = 512;

/// Deliveries kept for a later attempt when the database is away.
const MAX_UNSETTLED: usize = 65_536;

/// A request for the loader.
pub(crate) enum Job {
    Load(SubjectKey),
    Delivered(OutboxId),
}

/// The loader thread.
pub(crate) fn run(shared: &Arc<Shared>, feed: &Feed, jobs: &Receiver<Job>) {
    let mut client: Option<Client> = None;
    let mut unsettled: Vec<OutboxId> = Vec::new();
    loop {
        let first = match jobs.recv_timeout(Duration::from_millis(500)) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let stopping = shared.stopping.load(Ordering::SeqCst) || feed.is_closed();
        let mut loads = Vec::new();
        for job in first
            .into_iter()
            .chain(std::iter::from_fn(|| jobs.try_recv().ok()))
        {
            match job {
                Job::Load(key) => loads.push(key),
                Job::Delivered(id) if unsettled.len() < MAX_UNSETTLED => unsettled.push(id),
                Job::Delivered(_) => {}
            }
            if loads.len() >= BATCH * 8 {
                break;
            }
        }
        if loads.is_empty() && unsettled.is_empty() {
            if stopping {
                return;
            }
            continue;
        }
        if client.is_none() {
            client = shared.settings.connect().ok();
        }
        let Some(c) = client.as_mut() else {
            for key in loads {
                feed.loaded(
                    key,
                    Err(ConsentError::new("the consent database is not reachable")),
                );
            }
            if stopping {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let mut broken = false;
        for chunk in loads.chunks(BATCH) {
            match writes::load(c, &shared.settings, chunk) {
                Ok(found) => {
                    for (key, stored) in found {
                        feed.loaded(key, Ok(stored));
                    }
                }
                Err(failure) => {
                    if matches!(failure, Failure::Row(_)) {
                        shared.status.malformed_rows.fetch_add(1, Ordering::Relaxed);
                    } else {
                        broken = true;
                    }
                    for key in chunk {
                        feed.loaded(
                            *key,
                            Err(ConsentError::new(
                                "the subject's choices could not be loaded",
                            )),
                        );
                    }
                }
            }
        }
        if !unsettled.is_empty() {
            match writes::settle(c, &shared.settings, &unsettled) {
                Ok(()) => unsettled.clear(),
                Err(_) => broken = true,
            }
        }
        if broken {
            client = None;
        }
        if stopping {
            return;
        }
    }
}
