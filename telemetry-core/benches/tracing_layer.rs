//! The `tracing` integration (`telemetry_core::tracing_layer`) next to its
//! peers, in the same run, with the ratios printed at the end.
//!
//! Run with
//!
//! ```text
//! cargo bench -p telemetry-core --bench tracing_layer --features tracing
//! ```
//!
//! (append `-- <filter>` to run some benchmarks only; the table then shows
//! `n/a` for the ones that did not run in this process). Every benchmark
//! warms up for 0.5 s and measures for 2 s unless overridden on the command
//! line (`-- --warm-up-time 1 --measurement-time 3`).
//!
//! Every benchmark installs its own subscriber with
//! `tracing::subscriber::with_default` for its duration only, so nothing
//! leaks between benchmarks; the "no subscriber" peer runs under
//! `tracing::subscriber::NoSubscriber` (so `tracing`'s callsite interest and
//! max level are rebuilt to "never"/`OFF` for it, as with no subscriber at
//! all). Each benchmark builds its `tracing` span (or event) with the same
//! macro call for ours and for the peers.
//!
//! What each group measures:
//!
//! - `tracing_span_denied`: `info_span!(target: "bench", "op", a = 1u64)`
//!   entered and dropped, inside a subject scope whose consent denies the
//!   route's category (`BUSINESS`, opt-in, not granted). Ours with
//!   `build_exclusive()` (global filter) and `build()` (per-layer filter) vs
//!   `tracing` with no subscriber (the floor) and vs `tracing-opentelemetry`
//!   over an SDK `TracerProvider` with `Sampler::AlwaysOff` (the closest
//!   peer "drop" path: the registry span and the OTel span builder are
//!   still made, the SDK then drops the span at start). With the per-layer
//!   filter, `tracing-subscriber`'s registry still creates the span our
//!   filter declined (its `Registry::enabled` only says no when all 64
//!   per-layer filter bits are off), so that variant pays for a registry
//!   span; the exclusive one does not.
//! - `tracing_span_sampled_out`: the same child span inside an entered root
//!   span that was sampled out (our sampler: probability 0.0 for the
//!   route's category `INTERACTION`). Ours exclusive and per-layer vs
//!   `tracing-opentelemetry` with `Sampler::ParentBased(AlwaysOff)` and with
//!   `Sampler::TraceIdRatioBased(0.0)`, and vs no subscriber.
//! - `tracing_span_recorded`: `info_span!(target: "bench", "op",
//!   http.route = "/checkout", items = 3u64)` (2 public fields) entered and
//!   dropped, recorded: ours per-layer, category `BUSINESS` granted by the
//!   subject in scope, sampler keeps it, ended into the export queue (a
//!   background worker drains it to a no-op exporter) vs
//!   `tracing-opentelemetry` with `AlwaysOn` and a `BatchSpanProcessor`
//!   (queue 65 536, batch 4 096, delay 50 ms, like ours) to a no-op
//!   exporter, as in `hot_path.rs`. The `_flushed` variants time chunks of
//!   8 192 spans with an untimed `force_flush` after each, so no queue ever
//!   fills and nothing is dropped: the producer's cost without the
//!   "queue full, drop" shortcut. Read them as a lower bound for ours: our
//!   `force_flush` exports on the calling thread, so the records are freed
//!   on the benchmark thread (warm allocator caches) and no worker runs
//!   beside the timed code, whereas the SDK's `force_flush` hands over to
//!   its own worker thread. The free-running variants are the headline.
//! - `tracing_event_recorded`: `info!(target: "bench", user = "x",
//!   n = 3u64, "message")` inside an entered, recorded span. The two do
//!   different work, so read the ratio as context:
//!   - ours: a log record (body `message`, `n` public, `user` hashed with
//!     keyed BLAKE3; `ours_public` classifies `user` public instead, to
//!     show the hash's share) with the enclosing span's trace and span id,
//!     pushed to the export queue and exported on its own (`ours_flushed`:
//!     an untimed `force_flush` every 8 192 events, as above);
//!   - `tracing-opentelemetry` (default configuration): an OTel span
//!     *event* named by `message` (a `String` copy), with attributes
//!     `level`, `target`, `user`, `n` and, by the layer's default
//!     `with_location(true)`, `code.file.path`, `code.module.name`,
//!     `code.line.number`, appended to the enclosing SDK span in memory; it
//!     is exported only with that span (after the timed part).
//!
//!   The SDK keeps at most 128 events per span and silently drops the rest
//!   (cheaper), so both sides emit 100 events per enclosing span:
//!   `iter_custom` times only the events, not the span's start and end.
//!
//! Queue drops are checked: a full queue drops records cheaply and would
//! flatter whoever drops, so the run prints, per recorded benchmark, our
//! `DropCause::QueueFull` count and the records each exporter received
//! against those produced.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler as OtelSampler, SdkTracerProvider};
use telemetry_core::tracing_layer::{TracingLayer, TracingLayerBuilder};
use telemetry_core::*;

mod common;
use common::*;
use tracing::Level;
use tracing::subscriber::NoSubscriber;
use tracing_subscriber::prelude::*;

// ---------------------------------------------------------------------------
// Our setup
// ---------------------------------------------------------------------------

/// Our layer: target `bench` up to INFO as `category`, and the field
/// classes the benchmarks' spans and events use (`a` keeps the default,
/// redacted; `user` is hashed).
fn layer_for(t: &Telemetry, category: Category) -> TracingLayerBuilder {
    layer_with_user(t, category, FieldClass::Hashed)
}

/// As [`layer_for`], with `user` of class `user`.
fn layer_with_user(t: &Telemetry, category: Category, user: FieldClass) -> TracingLayerBuilder {
    TracingLayer::builder(t)
        .route("bench", Level::INFO, category)
        .field("message", FieldClass::Public)
        .field("http.route", FieldClass::Public)
        .field("items", FieldClass::Public)
        .field("n", FieldClass::Public)
        .field("user", user)
}

// ---------------------------------------------------------------------------
// Peer setup
// ---------------------------------------------------------------------------

/// An SDK tracer provider with `sampler` and a batch processor to a no-op
/// exporter counting into `exported`.
fn otel_provider(sampler: OtelSampler, exported: Arc<AtomicUsize>) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(otel_batch_span_processor(OtelNullSpanExporter(exported)))
        .build()
}

/// Runs `f` with `tracing-opentelemetry` (its default configuration) over
/// `provider` as the thread's subscriber.
fn with_otel<R>(provider: &SdkTracerProvider, f: impl FnOnce() -> R) -> R {
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f)
}

/// Runs `f` with our layer (per-layer filter) as the thread's subscriber.
fn with_ours<R>(builder: TracingLayerBuilder, f: impl FnOnce() -> R) -> R {
    let layer = builder.build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f)
}

/// Runs `f` with our layer (global filter) as the thread's subscriber.
fn with_ours_exclusive<R>(builder: TracingLayerBuilder, f: impl FnOnce() -> R) -> R {
    let layer = builder.build_exclusive().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f)
}

/// Runs `f` with no subscriber.
fn with_none<R>(f: impl FnOnce() -> R) -> R {
    tracing::subscriber::with_default(NoSubscriber::default(), f)
}

impl Accounting {
    fn queue_full(&mut self, what: &str, n: u64) {
        self.lines.push(format!(
            "- ours, {what}: DropCause::QueueFull = {n}{}",
            if n == 0 {
                ""
            } else {
                " — **non-zero: some were dropped by a full queue, so `ours` is flattered**"
            }
        ));
    }
}

// ---------------------------------------------------------------------------
// The measured operations: one macro call each, shared by ours and peers
// ---------------------------------------------------------------------------

/// The denied / sampled-out span: entered, then exited and closed.
fn op_span() {
    let s = tracing::info_span!(target: "bench", "op", a = 1u64).entered();
    black_box(&s);
    drop(s);
}

/// The recorded span with 2 fields: entered, then exited and closed.
fn recorded_span() {
    let s = tracing::info_span!(target: "bench", "op", http.route = "/checkout", items = 3u64)
        .entered();
    black_box(&s);
    drop(s);
}

/// The recorded event.
fn event() {
    tracing::info!(target: "bench", user = "x", n = 3u64, "message");
}

/// Events per enclosing span in `tracing_event_recorded` (below the SDK's
/// default limit of 128 events per span).
const EVENTS_PER_SPAN: u64 = 100;

/// Records timed between two untimed flushes in the `_flushed` variants:
/// well below the queue capacity (65 536), so no record is dropped.
const FLUSH_EVERY: u64 = 8192;

/// Times `iters` events, `EVENTS_PER_SPAN` per enclosing recorded span;
/// the spans' start and end are not timed. With `flush`, it is called
/// (untimed) every `FLUSH_EVERY` events.
fn time_events(iters: u64, flush: Option<&dyn Fn()>) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut since_flush = 0;
    while left > 0 {
        let n = left.min(EVENTS_PER_SPAN);
        let span = tracing::info_span!(target: "bench", "request").entered();
        let start = Instant::now();
        for _ in 0..n {
            event();
        }
        total += start.elapsed();
        drop(span);
        left -= n;
        since_flush += n;
        if let Some(flush) = flush
            && since_flush >= FLUSH_EVERY
        {
            flush();
            since_flush = 0;
        }
    }
    total
}

/// Times `iters` calls of `routine` in chunks of `FLUSH_EVERY`, calling
/// `flush` (untimed) after each chunk.
fn time_flushed(iters: u64, routine: fn(), flush: &dyn Fn()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(FLUSH_EVERY);
        let start = Instant::now();
        for _ in 0..n {
            routine();
        }
        total += start.elapsed();
        flush();
        left -= n;
    }
    total
}

// ---------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------

/// One benchmark of `routine` under whatever subscriber is the default.
fn bench(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, routine: fn()) {
    g.bench_function(name, |b| b.iter(routine));
}

/// Runs `f` inside an entered root span (in `tracing_span_sampled_out`,
/// sampled out by whoever records it).
fn in_root<R>(f: impl FnOnce() -> R) -> R {
    let root = tracing::info_span!(target: "bench", "root").entered();
    let r = f();
    drop(root);
    r
}

fn span_denied(c: &mut Criterion, t: &Telemetry) {
    let provider = otel_provider(OtelSampler::AlwaysOff, Arc::default());
    let scope = t.subject(DENIED);
    assert!(!t.enabled(Category::BUSINESS));
    let consent_before = t.drops().by_cause(DropCause::Consent);

    // Sanity. Exclusive: the span is not created at all. Per-layer: our
    // filter declines it (the drop is counted), but `tracing-subscriber`'s
    // registry still creates it: `Registry::enabled` returns false only when
    // *every* one of its 64 per-layer filter bits is off
    // (`FilterMap::any_enabled`), so one declining filter never short-circuits.
    // The OTel peer creates it too.
    let probe = || tracing::info_span!(target: "bench", "op", a = 1u64).is_disabled();
    let consent_drops = || t.drops().by_cause(DropCause::Consent);
    let before = consent_drops();
    assert!(with_ours_exclusive(layer_for(t, Category::BUSINESS), probe));
    assert_eq!(consent_drops(), before + 1);
    assert!(!with_ours(layer_for(t, Category::BUSINESS), probe));
    assert_eq!(consent_drops(), before + 2);
    assert!(with_none(probe));
    assert!(!with_otel(&provider, probe));

    let mut g = c.benchmark_group("tracing_span_denied");
    with_ours_exclusive(layer_for(t, Category::BUSINESS), || {
        bench(&mut g, "ours_exclusive", op_span)
    });
    with_ours(layer_for(t, Category::BUSINESS), || {
        bench(&mut g, "ours_per_layer", op_span)
    });
    with_none(|| bench(&mut g, "no_subscriber", op_span));
    with_otel(&provider, || bench(&mut g, "otel_always_off", op_span));
    g.finish();
    drop(scope);
    assert!(t.drops().by_cause(DropCause::Consent) > consent_before);
    let _ = provider.shutdown();
}

fn span_sampled_out(c: &mut Criterion, t: &Telemetry) {
    let parent_based = otel_provider(
        OtelSampler::ParentBased(Box::new(OtelSampler::AlwaysOff)),
        Arc::default(),
    );
    let ratio = otel_provider(OtelSampler::TraceIdRatioBased(0.0), Arc::default());
    let sampling_before = t.drops().by_cause(DropCause::Sampling);

    // Sanity: the child is declined by both of our filters (the drop is
    // counted); as above, only the exclusive one keeps the registry from
    // creating it.
    let probe = || in_root(|| tracing::info_span!(target: "bench", "op", a = 1u64).is_disabled());
    let sampling_drops = || t.drops().by_cause(DropCause::Sampling);
    let before = sampling_drops();
    assert!(with_ours_exclusive(
        layer_for(t, Category::INTERACTION),
        probe
    ));
    let after_exclusive = sampling_drops();
    assert!(after_exclusive > before);
    assert!(!with_ours(layer_for(t, Category::INTERACTION), probe));
    assert!(sampling_drops() > after_exclusive);
    assert!(!with_otel(&parent_based, probe));

    let mut g = c.benchmark_group("tracing_span_sampled_out");
    with_ours_exclusive(layer_for(t, Category::INTERACTION), || {
        in_root(|| bench(&mut g, "ours_exclusive", op_span))
    });
    with_ours(layer_for(t, Category::INTERACTION), || {
        in_root(|| bench(&mut g, "ours_per_layer", op_span))
    });
    with_none(|| in_root(|| bench(&mut g, "no_subscriber", op_span)));
    with_otel(&parent_based, || {
        in_root(|| bench(&mut g, "otel_parent_based_always_off", op_span))
    });
    with_otel(&ratio, || {
        in_root(|| bench(&mut g, "otel_trace_id_ratio_0", op_span))
    });
    g.finish();
    assert!(t.drops().by_cause(DropCause::Sampling) > sampling_before);
    let _ = parent_based.shutdown();
    let _ = ratio.shutdown();
}

/// Our records produced vs exported, and queue-full drops, for one
/// benchmark (the pipeline flushed before and after).
struct OursTally<'a> {
    t: &'a Telemetry,
    exported: &'a AtomicU64,
    queue_full: u64,
    before: u64,
}

impl<'a> OursTally<'a> {
    fn start(t: &'a Telemetry, exported: &'a AtomicU64) -> Self {
        t.force_flush().unwrap();
        OursTally {
            t,
            exported,
            queue_full: t.drops().by_cause(DropCause::QueueFull),
            before: exported.load(Ordering::Relaxed),
        }
    }

    fn finish(self, acc: &mut Accounting, what: &str, produced: u64) {
        self.t.force_flush().unwrap();
        let queue_full = self.t.drops().by_cause(DropCause::QueueFull) - self.queue_full;
        acc.queue_full(what, queue_full);
        acc.check(
            &format!("ours, {what}"),
            produced,
            self.exported.load(Ordering::Relaxed) - self.before,
        );
    }
}

fn span_recorded(c: &mut Criterion, t: &Telemetry, ours_exp: &NullExporter, acc: &mut Accounting) {
    let otel_exported = Arc::new(AtomicUsize::new(0));
    let provider = otel_provider(OtelSampler::AlwaysOn, otel_exported.clone());
    let scope = t.subject(GRANTED);
    assert!(t.enabled(Category::BUSINESS));
    let flush_ours = || t.force_flush().unwrap();
    let flush_otel = || {
        let _ = provider.force_flush();
    };

    let mut g = c.benchmark_group("tracing_span_recorded");
    with_ours(layer_for(t, Category::BUSINESS), || {
        let tally = OursTally::start(t, &ours_exp.spans);
        let mut n = 0u64;
        g.bench_function("ours_per_layer", |b| {
            b.iter(|| {
                n += 1;
                recorded_span();
            })
        });
        tally.finish(acc, "recorded spans", n);

        let tally = OursTally::start(t, &ours_exp.spans);
        let mut n = 0u64;
        g.bench_function("ours_per_layer_flushed", |b| {
            b.iter_custom(|iters| {
                n += iters;
                time_flushed(iters, recorded_span, &flush_ours)
            })
        });
        tally.finish(acc, "recorded spans, flushed", n);
    });
    with_otel(&provider, || {
        let before = otel_exported.load(Ordering::Relaxed) as u64;
        let mut n = 0u64;
        g.bench_function("otel_always_on_batch", |b| {
            b.iter(|| {
                n += 1;
                recorded_span();
            })
        });
        g.bench_function("otel_always_on_batch_flushed", |b| {
            b.iter_custom(|iters| {
                n += iters;
                time_flushed(iters, recorded_span, &flush_otel)
            })
        });
        flush_otel();
        acc.check(
            "tracing-opentelemetry, BatchSpanProcessor spans (both variants)",
            n,
            otel_exported.load(Ordering::Relaxed) as u64 - before,
        );
    });
    g.finish();
    drop(scope);
    let _ = provider.shutdown();
}

fn event_recorded(c: &mut Criterion, t: &Telemetry, ours_exp: &NullExporter, acc: &mut Accounting) {
    let provider = otel_provider(OtelSampler::AlwaysOn, Arc::default());
    let scope = t.subject(GRANTED);
    let flush_ours = || t.force_flush().unwrap();

    let mut g = c.benchmark_group("tracing_event_recorded");
    with_ours(layer_for(t, Category::BUSINESS), || {
        let tally = OursTally::start(t, &ours_exp.logs);
        let mut n = 0u64;
        g.bench_function("ours", |b| {
            b.iter_custom(|iters| {
                n += iters;
                time_events(iters, None)
            })
        });
        tally.finish(acc, "recorded events", n);

        let tally = OursTally::start(t, &ours_exp.logs);
        let mut n = 0u64;
        g.bench_function("ours_flushed", |b| {
            b.iter_custom(|iters| {
                n += iters;
                time_events(iters, Some(&flush_ours))
            })
        });
        tally.finish(acc, "recorded events, flushed", n);
    });
    with_ours(
        layer_with_user(t, Category::BUSINESS, FieldClass::Public),
        || {
            let tally = OursTally::start(t, &ours_exp.logs);
            let mut n = 0u64;
            g.bench_function("ours_public", |b| {
                b.iter_custom(|iters| {
                    n += iters;
                    time_events(iters, None)
                })
            });
            tally.finish(acc, "recorded events, user public", n);
        },
    );
    with_otel(&provider, || {
        g.bench_function("otel_span_event", |b| {
            b.iter_custom(|iters| time_events(iters, None))
        });
    });
    g.finish();
    drop(scope);
    let _ = provider.shutdown();
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

struct Row {
    operation: &'static str,
    group: &'static str,
    ours: &'static str,
    peer_label: &'static str,
    peer: &'static str,
    /// ours / peer ≤ this, by analogy with `PERFORMANCE.md`; `None`: context.
    target: Option<f64>,
}

fn print_table(since: SystemTime, acc: &Accounting) {
    const DENIED: &str = "tracing_span_denied";
    const SAMPLED: &str = "tracing_span_sampled_out";
    const SPAN: &str = "tracing_span_recorded";
    const EVENT: &str = "tracing_event_recorded";
    let r = |operation, group, ours, peer_label, peer, target| Row {
        operation,
        group,
        ours,
        peer_label,
        peer,
        target,
    };
    let rows = [
        r(
            "denied span, exclusive",
            DENIED,
            "ours_exclusive",
            "tracing, no subscriber",
            "no_subscriber",
            Some(2.0),
        ),
        r(
            "denied span, per-layer",
            DENIED,
            "ours_per_layer",
            "tracing, no subscriber",
            "no_subscriber",
            Some(2.0),
        ),
        r(
            "denied span, exclusive",
            DENIED,
            "ours_exclusive",
            "tracing-otel, AlwaysOff",
            "otel_always_off",
            Some(0.1),
        ),
        r(
            "denied span, per-layer",
            DENIED,
            "ours_per_layer",
            "tracing-otel, AlwaysOff",
            "otel_always_off",
            Some(0.1),
        ),
        r(
            "sampled-out child, exclusive",
            SAMPLED,
            "ours_exclusive",
            "tracing, no subscriber",
            "no_subscriber",
            Some(2.0),
        ),
        r(
            "sampled-out child, per-layer",
            SAMPLED,
            "ours_per_layer",
            "tracing, no subscriber",
            "no_subscriber",
            Some(2.0),
        ),
        r(
            "sampled-out child, exclusive",
            SAMPLED,
            "ours_exclusive",
            "tracing-otel, ParentBased(AlwaysOff)",
            "otel_parent_based_always_off",
            Some(0.1),
        ),
        r(
            "sampled-out child, per-layer",
            SAMPLED,
            "ours_per_layer",
            "tracing-otel, ParentBased(AlwaysOff)",
            "otel_parent_based_always_off",
            Some(0.1),
        ),
        r(
            "sampled-out child, exclusive",
            SAMPLED,
            "ours_exclusive",
            "tracing-otel, TraceIdRatioBased(0)",
            "otel_trace_id_ratio_0",
            None,
        ),
        r(
            "sampled-out child, per-layer",
            SAMPLED,
            "ours_per_layer",
            "tracing-otel, TraceIdRatioBased(0)",
            "otel_trace_id_ratio_0",
            None,
        ),
        r(
            "recorded span, 2 fields",
            SPAN,
            "ours_per_layer",
            "tracing-otel, AlwaysOn, batch",
            "otel_always_on_batch",
            Some(0.25),
        ),
        r(
            "recorded span, 2 fields, flushed (no drops)",
            SPAN,
            "ours_per_layer_flushed",
            "tracing-otel, AlwaysOn, batch, flushed",
            "otel_always_on_batch_flushed",
            Some(0.25),
        ),
        r(
            "event in a span (ours: log record, 1 hashed)",
            EVENT,
            "ours",
            "tracing-otel span event",
            "otel_span_event",
            None,
        ),
        r(
            "event in a span, flushed (no drops)",
            EVENT,
            "ours_flushed",
            "tracing-otel span event",
            "otel_span_event",
            None,
        ),
        r(
            "event in a span (ours: log record, all public)",
            EVENT,
            "ours_public",
            "tracing-otel span event",
            "otel_span_event",
            None,
        ),
    ];

    println!();
    println!("## tracing layer vs peers (criterion medians, this run)");
    println!();
    println!(
        "| operation | ours (ns) | peer | peer (ns) | ratio ours/peer | target (by analogy) | met |"
    );
    println!("|---|---:|---|---:|---:|---|:---:|");
    for r in &rows {
        let ours = median_ns(r.group, r.ours, since);
        let peer = median_ns(r.group, r.peer, since);
        let ratio = match (ours, peer) {
            (Some(o), Some(p)) if p > 0.0 => Some(o / p),
            _ => None,
        };
        let (target, met) = match r.target {
            Some(x) => (
                format!("≤ {x}×"),
                match ratio {
                    Some(q) if q <= x => "yes",
                    Some(_) => "**no**",
                    None => "",
                },
            ),
            None => ("(context)".to_owned(), ""),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.operation,
            fmt_ns(ours),
            r.peer_label,
            fmt_ns(peer),
            ratio.map_or_else(|| "—".to_owned(), |q| format!("{q:.3}")),
            target,
            met,
        );
    }
    println!();
    println!("Records produced vs exported (a drop would flatter the one that dropped):");
    for line in &acc.lines {
        println!("{line}");
    }
    println!();
}

fn main() {
    let since = SystemTime::now();
    let mut c = criterion();
    let (t, exporter) = ours();
    let mut acc = Accounting::default();

    span_denied(&mut c, &t);
    span_sampled_out(&mut c, &t);
    span_recorded(&mut c, &t, &exporter, &mut acc);
    event_recorded(&mut c, &t, &exporter, &mut acc);

    c.final_summary();
    let report = t.shutdown(Duration::from_secs(5));
    if !report.is_complete() {
        println!("telemetry shutdown incomplete: {report:?}");
    }
    print_table(since, &acc);
}
