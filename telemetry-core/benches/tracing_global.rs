//! The `tracing` layer as a service installs it: the process's global
//! subscriber (no scoped dispatcher), exclusive mode. The floor is measured
//! in the same process and run: a span whose callsite no route admits, so
//! `tracing` disables it per callsite, which costs what a span costs with no
//! subscriber at all.
//!
//! ```text
//! cargo bench -p telemetry-core --bench tracing_global --features tracing
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use telemetry_core::tracing_layer::TracingLayer;
use telemetry_core::*;
use tracing::Level;
use tracing_subscriber::prelude::*;

mod common;
use common::*;

const GROUP: &str = "tracing_global";

fn main() {
    let since = SystemTime::now();
    let mut c = criterion();
    let (t, _exporter) = ours();
    let layer = TracingLayer::builder(&t)
        .route("bench", Level::INFO, Category::BUSINESS)
        .route("bench::sampled", Level::INFO, Category::INTERACTION)
        .build_exclusive()
        .unwrap();
    tracing_subscriber::registry().with(layer).init();

    let mut g = c.benchmark_group(GROUP);
    g.bench_function("unrouted_span_floor", |b| {
        b.iter(|| {
            let s = tracing::info_span!(target: "elsewhere", "op", a = 1u64).entered();
            black_box(&s);
        })
    });
    {
        let _scope = t.subject(DENIED);
        assert!(tracing::info_span!(target: "bench", "op").is_disabled());
        g.bench_function("denied_span", |b| {
            b.iter(|| {
                let s = tracing::info_span!(target: "bench", "op", a = 1u64).entered();
                black_box(&s);
            })
        });
    }
    {
        let root = tracing::info_span!(target: "bench::sampled", "root").entered();
        assert!(tracing::info_span!(target: "bench::sampled", "op").is_disabled());
        g.bench_function("sampled_out_child_span", |b| {
            b.iter(|| {
                let s = tracing::info_span!(target: "bench::sampled", "op", a = 1u64).entered();
                black_box(&s);
            })
        });
        drop(root);
    }
    g.finish();
    c.final_summary();
    t.shutdown(Duration::from_secs(5));

    let floor = median_ns(GROUP, "unrouted_span_floor", since);
    println!("\n## tracing layer, global subscriber (criterion medians, this run)\n");
    println!("| span | ours (ns) | floor: unrouted span (ns) | ratio |");
    println!("|---|---:|---:|---:|");
    for (what, f) in [
        ("consent-denied, exclusive", "denied_span"),
        (
            "child of a sampled-out span, exclusive",
            "sampled_out_child_span",
        ),
    ] {
        let ours = median_ns(GROUP, f, since);
        let ratio = match (ours, floor) {
            (Some(o), Some(p)) if p > 0.0 => format!("{:.2}×", o / p),
            _ => "n/a".to_owned(),
        };
        println!(
            "| {what} | {} | {} | {ratio} |",
            fmt_ns(ours),
            fmt_ns(floor)
        );
    }
}
