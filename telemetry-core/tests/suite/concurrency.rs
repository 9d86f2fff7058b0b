//! Several threads record while another grants and revokes: once `revoke`
//! returns, no record of that subject and category is exported, and what was
//! buffered is purged. Tested with purge (the default) and keep-on-revoke.
//!
//! `revoke` does not wait for an export in flight: the exporter here, like
//! every exporter, checks `Batch::is_current` right before it delivers, and
//! a batch a revocation raced is filtered again by the pipeline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::common::*;
use telemetry_core::export::*;
use telemetry_core::*;

/// Checks, at export time, that nothing of the watched subject arrives while
/// the test says it is revoked.
#[derive(Clone)]
struct Watch {
    subject: SubjectKey,
    revoked: Arc<AtomicBool>,
    violations: Arc<AtomicU64>,
    exported: Arc<AtomicU64>,
    others: Arc<AtomicU64>,
}

impl Exporter for Watch {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        // The state the test says holds when delivery starts, read before
        // the delivery check: `revoked` was set after `revoke` returned.
        let revoked = self.revoked.load(Ordering::SeqCst);
        if !batch.is_current() {
            return Err(ExportError::stale());
        }
        for l in batch
            .logs
            .iter()
            .filter(|l| l.category == Category::BUSINESS)
        {
            if l.subject == Some(self.subject) {
                if revoked {
                    self.violations.fetch_add(1, Ordering::SeqCst);
                }
                self.exported.fetch_add(1, Ordering::SeqCst);
            } else {
                self.others.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

fn run(policy: ConsentPolicy) -> (u64, u64, u64, DropCounts) {
    let probe = builder().build().unwrap();
    let watch = Watch {
        subject: probe.consent().subject_key("victor"),
        revoked: Arc::new(AtomicBool::new(true)),
        violations: Arc::new(AtomicU64::new(0)),
        exported: Arc::new(AtomicU64::new(0)),
        others: Arc::new(AtomicU64::new(0)),
    };
    let t = builder()
        .consent(policy)
        .flush_interval(Duration::from_millis(1))
        .batch_size(64)
        .exporter(watch.clone())
        .build()
        .unwrap();
    t.consent().grant("wendy", Category::BUSINESS).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for i in 0..4 {
        let t = t.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let who = if i == 3 { "wendy" } else { "victor" };
            let _s = t.subject(who);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                t.event("checkout.step", Category::BUSINESS)
                    .public("n", n)
                    .emit();
                n += 1;
                if n.is_multiple_of(64) {
                    std::thread::yield_now();
                }
            }
        }));
    }
    for _ in 0..200 {
        watch.revoked.store(false, Ordering::SeqCst);
        t.consent().grant("victor", Category::BUSINESS).unwrap();
        std::thread::sleep(Duration::from_micros(300));
        t.consent().revoke("victor", Category::BUSINESS).unwrap();
        watch.revoked.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_micros(300));
    }
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        th.join().unwrap();
    }
    t.shutdown(Duration::from_secs(10));
    (
        watch.violations.load(Ordering::SeqCst),
        watch.exported.load(Ordering::SeqCst),
        watch.others.load(Ordering::SeqCst),
        t.drops(),
    )
}

#[test]
fn nothing_is_exported_after_revoke_returns_and_buffers_are_purged() {
    let (violations, exported, others, drops) = run(policy());
    assert_eq!(
        violations, 0,
        "records of a revoked subject were exported after revoke returned"
    );
    assert!(
        exported > 0,
        "the subject's records do arrive while granted"
    );
    assert!(others > 0, "other subjects are unaffected");
    assert!(drops.get(DropCause::Consent, Category::BUSINESS) > 0);
    assert!(
        drops.get(DropCause::Revoked, Category::BUSINESS) > 0,
        "buffered records were purged: {drops:?}"
    );
}

#[test]
fn keep_on_revoke_exports_what_was_captured_while_granted() {
    let (violations, exported, _others, drops) = run(policy().keep_on_revoke(Category::BUSINESS));
    assert!(exported > 0);
    assert_eq!(
        drops.get(DropCause::Revoked, Category::BUSINESS),
        0,
        "nothing purged when the policy keeps"
    );
    // Records captured just before a revocation may be exported after it:
    // that is what keeping means. The count is reported, not asserted zero.
    let _ = violations;
}
