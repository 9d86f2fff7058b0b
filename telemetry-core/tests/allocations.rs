//! The denied and sampled-out paths allocate nothing, and a recorded event
//! or span whose attributes fit in the record allocates nothing either
//! (a span reuses its thread's last open state, an ad-hoc event its
//! thread's last builder): counted
//! with a counting global allocator (per thread, so other threads do not
//! disturb it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "suite/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use telemetry_core::*;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl Fn()) -> u64 {
    f(); // warm up: per-thread counters and RNG are set up once per thread
    let before = ALLOCS.with(Cell::get);
    for _ in 0..100 {
        f();
    }
    ALLOCS.with(Cell::get) - before
}

#[test]
fn denied_and_sampled_out_paths_do_not_allocate() {
    let t = builder()
        .consent(policy())
        .sampler(
            Sampler::per_category([(Category::PERFORMANCE, 0.0), (Category::ERRORS, 0.0)])
                .sample_errors(),
        )
        .build()
        .unwrap();
    let counter = t
        .counter("c", Category::BUSINESS)
        .attribute("a")
        .build()
        .unwrap();
    let hist = t.histogram("h", Category::BUSINESS).build().unwrap();
    let bound = counter.bind(&[("a", Value::Str("x"))]);
    t.consent().grant("granted", Category::INTERACTION).unwrap();
    let _scope = t.subject("denied-subject");
    let email = String::from("someone@example.com");

    assert_eq!(
        allocations(|| t.emit(&purchase(&email))),
        0,
        "denied typed event"
    );
    assert_eq!(
        allocations(|| t
            .event("e", Category::BUSINESS)
            .public("k", 1u64)
            .hashed("h", email.as_str())
            .emit()),
        0,
        "denied ad-hoc event"
    );
    assert_eq!(
        allocations(|| drop(t.span("s", Category::BUSINESS))),
        0,
        "denied span"
    );
    assert_eq!(
        allocations(|| counter.add(1, &[("a", Value::Str("x"))])),
        0,
        "denied counter"
    );
    assert_eq!(allocations(|| hist.record(1.0, &[])), 0, "denied histogram");
    assert_eq!(allocations(|| bound.add(1)), 0, "denied bound counter");
    assert_eq!(
        allocations(|| {
            let mut s = t.span("s", Category::PERFORMANCE);
            s.set_attribute("k", "v");
            let _e = s.enter();
        }),
        0,
        "sampled-out span"
    );
    assert_eq!(
        allocations(|| t.event("e", Category::PERFORMANCE).public("k", "v").emit()),
        0,
        "sampled-out event"
    );
    assert_eq!(
        allocations(|| t.event("e", Category::ERRORS).emit()),
        0,
        "sampled-out error event"
    );
    // And a recorded value that does not fit in the record allocates (the
    // counter sees allocations).
    assert!(
        allocations(|| {
            t.event("e", Category::RESOURCE)
                .public("k", "a value longer than the record holds inline")
                .emit()
        }) > 0
    );
}

#[test]
fn recorded_events_and_spans_with_few_short_attributes_allocate_nothing() {
    let (t, exporter) = setup();
    t.consent().grant("customer", Category::BUSINESS).unwrap();
    let _scope = t.subject("customer");
    let email = String::from("someone@example.com");
    t.force_flush().unwrap();
    let before = exporter.logs().len();
    // Four attributes kept (hashed, two public, redacted; one dropped),
    // short strings: held inline in the record.
    assert_eq!(
        allocations(|| t.emit(&purchase(&email))),
        0,
        "recorded typed event"
    );
    let mut s = t.span("warm", Category::PERFORMANCE);
    s.set_attribute("http.route", "/checkout");
    drop(s);
    let spans = allocations(|| {
        let mut s = t.span("s", Category::PERFORMANCE);
        s.set_attribute("http.route", "/checkout");
        s.set_attribute("items", 3u64);
    });
    // The span's open state reuses the one the thread's last span left
    // (made once, on the warm-up span); its record allocates nothing.
    assert_eq!(spans, 0, "recorded span");
    // An ad-hoc event's builder reuses the box the thread's last one left
    // (made once, on the warm-up call).
    assert_eq!(
        allocations(|| {
            t.event("checkout.step", Category::PERFORMANCE)
                .public("route", "/checkout/payment")
                .public("items", 3u64)
                .emit()
        }),
        0,
        "recorded ad-hoc event"
    );
    t.force_flush().unwrap();
    assert_eq!(
        exporter.logs().len() - before,
        202,
        "every event was recorded (101 typed, 101 ad hoc)"
    );
    let adhoc = exporter.events_named("checkout.step");
    assert_eq!(adhoc.len(), 101);
    assert!(
        adhoc.iter().all(|l| l.attributes.len() == 2),
        "a reused builder carries only its own event's attributes"
    );
}
