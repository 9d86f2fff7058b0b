//! Subject scopes in async code: `in_subject` sets the scope on every poll
//! of one future only, so the other branch of a `join!` never records under
//! it; misuse of a guard that can be seen is counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use crate::common::*;
use telemetry_core::*;

async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn in_subject_scopes_one_branch_of_a_join_only() {
    let (t, exp) = setup();
    t.consent().grant("alice", Category::BUSINESS).unwrap();
    runtime().block_on(async {
        let a = t.in_subject("alice", async {
            yield_now().await;
            t.event("a.step", Category::BUSINESS).emit();
            yield_now().await;
            t.event("a.step", Category::BUSINESS).emit();
        });
        let b = async {
            for _ in 0..3 {
                yield_now().await;
                // No subject here: business is opt-in, so nothing is kept,
                // and nothing is tagged with alice's key.
                t.event("b.step", Category::BUSINESS).emit();
                t.event("b.timing", Category::PERFORMANCE).emit();
            }
        };
        tokio::join!(a, b);
    });
    t.force_flush().unwrap();
    let alice = t.consent().subject_key("alice");
    let a = exp.events_named("a.step");
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|e| e.subject == Some(alice)));
    assert!(
        exp.events_named("b.step").is_empty(),
        "not under alice's consent"
    );
    let timing = exp.events_named("b.timing");
    assert_eq!(timing.len(), 3);
    assert!(timing.iter().all(|e| e.subject.is_none()));
}

#[test]
fn a_guard_held_across_await_or_dropped_out_of_order_is_counted() {
    let (t, exp) = setup();
    runtime().block_on(t.in_subject("bob", async {
        // The wrong way: a guard open while the future suspends.
        let _g = t.subject("carol");
        yield_now().await;
    }));
    let first = t.subject("dan");
    let second = t.subject("erin");
    drop(first);
    drop(second);
    t.force_flush().unwrap();
    let misuse = |kind: &str| {
        exp.sum_value("telemetry.context.misuse", &[("kind", kind)])
            .unwrap_or(0)
    };
    assert!(misuse("held_across_await") >= 1);
    assert!(misuse("out_of_order") >= 1);
}
