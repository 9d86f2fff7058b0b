//! Hot-path benchmarks: each of our operations next to its peers, in the same
//! run, with the ratios printed at the end.
//!
//! Run with
//!
//! ```text
//! cargo bench -p telemetry-core --bench hot_path
//! ```
//!
//! (append `-- <filter>` to run some benchmarks only; the table then shows
//! `n/a` for the ones that did not run in this process). The whole run takes
//! a few minutes: every benchmark warms up for 0.5 s and measures for 2 s.
//!
//! After criterion's summary, the medians are read back from
//! `target/criterion/<group>/<function>/new/estimates.json` (honouring
//! `CRITERION_HOME` and `CARGO_TARGET_DIR`) and printed as a Markdown table:
//! operation, ours (ns), peer (ns), ratio ours/peer, and the target from the
//! performance doc.
//!
//! What each group measures:
//!
//! - `consent_denied`: a record whose category (`BUSINESS`, opt-in, no
//!   subject scope) is denied by consent: our typed event (`emit`), our span
//!   (start + drop) and our counter `add` with 3 attributes. Peers: a
//!   `tracing::span!` with no subscriber installed (the floor of a disabled
//!   instrumentation callsite), and a bare relaxed `AtomicU64` load plus bit
//!   test (the floor of any runtime check). Target: ≤ 2× the atomic load.
//!   For context, the same load and branch plus a thread-local counter
//!   incremented on refusal: the floor of a check whose refusals are
//!   counted, as ours are (by cause, for the drop metrics).
//! - `sampled_out_span`: our span of a category that consent allows but the
//!   sampler drops (probability 0.0), start + end, vs an OpenTelemetry SDK
//!   span with `Sampler::AlwaysOff`, start + end. Target: ≤ 0.1× OTel.
//! - `recorded_span`: a kept span with 2 public attributes, ended into the
//!   export queue (a background worker drains it to a no-op exporter). Ours
//!   in a built instance (the target row: the OpenTelemetry provider is
//!   built too), and for context in an installed one, as services run it
//!   (`ours_installed`: its spans refer to the instance instead of holding
//!   a counted handle).
//!   Peers: an OpenTelemetry SDK span with 2 attributes through a
//!   **`BatchSpanProcessor`** (queue 65 536, batch 4 096, delay 50 ms, like
//!   ours) to a no-op exporter; and fastrace with a no-op `Reporter`, in the
//!   pattern of fastrace's own `benches/compare.rs` (`Span::root` +
//!   `set_local_parent`, then `LocalSpan::enter_with_local_parent` children).
//!   For fastrace the iteration is one root + 100 children with 2 properties
//!   each, and ours is measured in the same shape (root entered, 100 children
//!   with 2 attributes); the table divides those by 101 spans. Targets: ≤ 0.25×
//!   the OTel span, ≤ 1× fastrace per span.
//! - `recorded_event`: our typed event with 4 fields (one hashed with keyed
//!   BLAKE3, one redacted) under a subject scope that granted consent, pushed
//!   to the export queue; vs an OpenTelemetry SDK log record with 4
//!   attributes through an `SdkLoggerProvider`, (a) with a `BatchLogProcessor`
//!   to a no-op exporter (the record leaves the thread, as ours does: this is
//!   the pair the target applies to) and (b) with a no-op `LogProcessor` (a
//!   lower bound: the record is built and discarded). Target: ≤ 0.25× OTel.
//!   For context, the keyed BLAKE3 hash of the hashed field's value alone
//!   (`keyed_hash_alone`): what keeping that field pseudonymous at capture
//!   costs by itself; and the same hash by the `blake3` crate
//!   (`keyed_hash_blake3_crate`), which capture uses only for values longer
//!   than one 64-byte block.
//! - `metrics`: our counter `add` and histogram `record` with 3 attributes,
//!   and our bound counter, vs the OpenTelemetry SDK counter `add` and
//!   histogram `record` with 3 `KeyValue`s (`SdkMeterProvider` with a
//!   `PeriodicReader` of interval 1 h and a no-op exporter, so never
//!   collected during the run; `ManualReader` would need an extra SDK
//!   feature and has the same hot path). Targets: ≤ 0.5× OTel;
//!   bound counter ≤ 20 ns absolute.
//!
//! Queue drops are checked: a full queue drops records cheaply and would
//! flatter whoever drops, so after the recorded benchmarks the run prints
//! our `DropCause::QueueFull` count and, for OTel and fastrace, the records
//! their exporters received against those produced.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use opentelemetry::KeyValue;
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use telemetry_core::event::*;
use telemetry_core::*;

mod common;
use common::*;

// ---------------------------------------------------------------------------
// Our setup
// ---------------------------------------------------------------------------

/// A typed event: 4 fields, one hashed, one redacted.
struct Purchase<'a> {
    email: &'a str,
    amount: u64,
    currency: &'a str,
    #[allow(dead_code)]
    card: &'a str,
}

impl TelemetryEvent for Purchase<'_> {
    const SCHEMA: &'static EventSchema = &EventSchema {
        name: "checkout.purchase",
        category: Category::BUSINESS,
        version: 1,
        description: "",
        fields: &[
            FieldSchema {
                name: "email",
                ty: FieldType::String,
                class: FieldClass::Hashed,
            },
            FieldSchema {
                name: "amount",
                ty: FieldType::UInt,
                class: FieldClass::Public,
            },
            FieldSchema {
                name: "currency",
                ty: FieldType::String,
                class: FieldClass::Public,
            },
            FieldSchema {
                name: "card",
                ty: FieldType::String,
                class: FieldClass::Redacted,
            },
        ],
    };

    fn subject(&self) -> Option<&str> {
        None
    }

    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field(0, self.email.to_value());
        v.field(1, self.amount.to_value());
        v.field(2, self.currency.to_value());
        v.field(3, Value::Absent);
    }
}

const PURCHASE: Purchase<'static> = Purchase {
    email: "ada@example.com",
    amount: 1299,
    currency: "EUR",
    card: "4111 1111 1111 1111",
};

fn metric_attrs() -> [(&'static str, Value<'static>); 3] {
    [
        ("a", Value::Str("x")),
        ("b", Value::U64(2)),
        ("c", Value::Bool(true)),
    ]
}

fn otel_attrs() -> [KeyValue; 3] {
    [
        KeyValue::new("a", "x"),
        KeyValue::new("b", 2i64),
        KeyValue::new("c", true),
    ]
}

// ---------------------------------------------------------------------------
// Peer setup
// ---------------------------------------------------------------------------

/// OTel log exporter that does nothing but count.
#[derive(Debug, Clone, Default)]
struct OtelNullLogExporter(Arc<AtomicUsize>);

impl opentelemetry_sdk::logs::LogExporter for OtelNullLogExporter {
    fn export(
        &self,
        batch: opentelemetry_sdk::logs::LogBatch<'_>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.fetch_add(batch.iter().count(), Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

/// OTel log processor that discards every record.
#[derive(Debug)]
struct OtelNoopLogProcessor;

impl opentelemetry_sdk::logs::LogProcessor for OtelNoopLogProcessor {
    fn emit(
        &self,
        data: &mut opentelemetry_sdk::logs::SdkLogRecord,
        _scope: &opentelemetry::InstrumentationScope,
    ) {
        black_box(data);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}

/// OTel metric exporter that does nothing.
#[derive(Debug)]
struct OtelNullMetricExporter;

impl opentelemetry_sdk::metrics::exporter::PushMetricExporter for OtelNullMetricExporter {
    fn export(
        &self,
        _metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        opentelemetry_sdk::metrics::Temporality::Cumulative
    }
}

/// fastrace reporter that does nothing but count.
struct FastraceNullReporter(Arc<AtomicUsize>);

impl fastrace::collector::Reporter for FastraceNullReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.0.fetch_add(spans.len(), Ordering::Relaxed);
    }
}

/// Spans per iteration in the "x100" benchmarks: one root, 100 children.
const SPANS_PER_TREE: f64 = 101.0;

// ---------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------

fn consent_denied(c: &mut Criterion, t: &Telemetry) {
    static GATE: AtomicU64 = AtomicU64::new(0);
    let denied_counter = t
        .counter("bench.denied", Category::BUSINESS)
        .attribute("a")
        .attribute("b")
        .attribute("c")
        .build()
        .unwrap();
    let attrs = metric_attrs();
    // No subject scope: BUSINESS is denied.
    assert!(!t.enabled(Category::BUSINESS));
    assert!(!tracing::dispatcher::has_been_set());

    let mut g = c.benchmark_group("consent_denied");
    g.bench_function("ours_event", |b| b.iter(|| t.emit(black_box(&PURCHASE))));
    g.bench_function("ours_span", |b| {
        b.iter(|| t.span(black_box("op"), Category::BUSINESS))
    });
    g.bench_function("ours_counter", |b| {
        b.iter(|| denied_counter.add(black_box(1), black_box(&attrs)))
    });
    g.bench_function("tracing_span_no_subscriber", |b| {
        b.iter(|| tracing::span!(tracing::Level::INFO, "op"))
    });
    // A refusal that is counted, for reference: the same load and branch,
    // and a thread-local counter incremented on refusal (what our denied
    // paths do, without the subject lookup). `black_box` keeps the mask
    // and category on the stack, which this row pays for too, so it is no
    // floor: the denied event runs under it.
    thread_local! {
        static REFUSED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    g.bench_function("atomic_load_branch_count", |b| {
        b.iter(|| {
            let mask = black_box(&GATE).load(Ordering::Relaxed);
            if mask & black_box(Category::BUSINESS.mask()) != 0 {
                black_box(1u32)
            } else {
                REFUSED.with(|c| c.set(c.get() + 1));
                0
            }
        })
    });
    g.bench_function("atomic_load_branch", |b| {
        b.iter(|| {
            let mask = black_box(&GATE).load(Ordering::Relaxed);
            if mask & black_box(Category::BUSINESS.mask()) != 0 {
                black_box(1u32)
            } else {
                0
            }
        })
    });
    g.finish();
}

/// The consent check for a subject whose choices are cached, with a
/// local store and with a shared store (the in-memory stand-in for the
/// PostgreSQL one: the record path never calls the store for a cached
/// subject, so which shared store it is does not matter), against the
/// atomic-load floor. `denied`: the subject never granted BUSINESS, a
/// typed event of it is refused; `enabled_*`: the check alone.
fn shared_store(c: &mut Criterion) {
    let build = |shared: bool| {
        let b = Telemetry::builder()
            .service("bench", "1")
            .env(Environment::from_pairs::<&str, &str>([]))
            .consent(
                ConsentPolicy::opt_in()
                    .require(Category::BUSINESS)
                    .require(Category::INTERACTION),
            )
            .hash_key(KeyId(1), b"0123456789abcdef0123456789abcdef");
        let b = if shared {
            b.shared_consent_store(testing::SharedMemoryStore::new())
        } else {
            b
        };
        let t = b.build().unwrap();
        t.consent()
            .grant("bench-user", Category::INTERACTION)
            .unwrap();
        t.consent()
            .prefetch_within("bench-user", Duration::from_secs(1))
            .unwrap();
        assert!(t.consent().prefetch("bench-user"), "not cached");
        t
    };
    let mut g = c.benchmark_group("shared_store");
    for (name, shared) in [("local", false), ("shared", true)] {
        let t = build(shared);
        let _scope = t.subject("bench-user");
        assert!(!t.enabled(Category::BUSINESS) && t.enabled(Category::INTERACTION));
        g.bench_function(format!("{name}_denied_event"), |b| {
            b.iter(|| t.emit(black_box(&PURCHASE)))
        });
        g.bench_function(format!("{name}_enabled_denied"), |b| {
            b.iter(|| t.enabled(black_box(Category::BUSINESS)))
        });
        g.bench_function(format!("{name}_enabled_admitted"), |b| {
            b.iter(|| t.enabled(black_box(Category::INTERACTION)))
        });
    }
    g.finish();
}

fn sampled_out_span(c: &mut Criterion, t: &Telemetry) {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
        .with_span_processor(otel_batch_span_processor(OtelNullSpanExporter::default()))
        .build();
    let tracer = provider.tracer("bench");
    assert!(!t.span("op", Category::INTERACTION).is_recording());
    assert!(t.span("op", Category::INTERACTION).context().is_some());

    let mut g = c.benchmark_group("sampled_out_span");
    g.bench_function("ours", |b| {
        b.iter(|| t.span(black_box("op"), Category::INTERACTION).end())
    });
    g.bench_function("otel_always_off", |b| {
        b.iter(|| tracer.start(black_box("op")).end())
    });
    g.finish();
    let _ = provider.shutdown();
}

fn recorded_span(c: &mut Criterion, t: &Telemetry, ours_exp: &NullExporter, acc: &mut Accounting) {
    let otel_exported = Arc::new(AtomicUsize::new(0));
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .with_span_processor(otel_batch_span_processor(OtelNullSpanExporter(
            otel_exported.clone(),
        )))
        .build();
    let tracer = provider.tracer("bench");
    let fastrace_reported = Arc::new(AtomicUsize::new(0));
    fastrace::set_reporter(
        FastraceNullReporter(fastrace_reported.clone()),
        fastrace::collector::Config::default(),
    );
    assert!(t.span("op", Category::PERFORMANCE).is_recording());
    t.force_flush().unwrap();
    let queue_full_before = t.drops().by_cause(DropCause::QueueFull);
    let spans_before = ours_exp.spans.load(Ordering::Relaxed);

    let mut ours_n = 0u64;
    let mut otel_n = 0u64;
    let mut fastrace_n = 0u64;
    let mut g = c.benchmark_group("recorded_span");
    g.bench_function("ours", |b| {
        b.iter(|| {
            ours_n += 1;
            let mut s = t.span(black_box("op"), Category::PERFORMANCE);
            s.set_attribute("http.route", "/checkout");
            s.set_attribute("items", 3u64);
            s.end();
        })
    });
    // The same span in an installed instance (as a service runs it): its
    // spans refer to the instance instead of counting a handle.
    let (installed, _installed_exp) = ours_installed();
    // The first instance's worker finishes its backlog first, so it does
    // not share the machine with this row.
    t.force_flush().unwrap();
    g.bench_function("ours_installed", |b| {
        b.iter(|| {
            let mut s = installed.span(black_box("op"), Category::PERFORMANCE);
            s.set_attribute("http.route", "/checkout");
            s.set_attribute("items", 3u64);
            s.end();
        })
    });
    g.bench_function("otel_batch", |b| {
        b.iter(|| {
            otel_n += 1;
            let mut s = tracer.start(black_box("op"));
            s.set_attribute(KeyValue::new("http.route", "/checkout"));
            s.set_attribute(KeyValue::new("items", 3i64));
            s.end();
        })
    });
    g.bench_function("ours_x100", |b| {
        b.iter(|| {
            ours_n += 101;
            let root = t.span(black_box("root"), Category::PERFORMANCE);
            let _entered = root.enter();
            for _ in 0..100 {
                let mut s = t.span(black_box("child"), Category::PERFORMANCE);
                s.set_attribute("http.route", "/checkout");
                s.set_attribute("items", 3u64);
            }
        })
    });
    g.bench_function("fastrace_x100", |b| {
        b.iter(|| {
            fastrace_n += 101;
            let root = fastrace::Span::root(
                black_box("root"),
                fastrace::collector::SpanContext::new(
                    fastrace::collector::TraceId(12),
                    fastrace::collector::SpanId::default(),
                ),
            );
            let _guard = root.set_local_parent();
            for _ in 0..100 {
                let _s = fastrace::local::LocalSpan::enter_with_local_parent(black_box("child"))
                    .with_property(|| ("http.route", "/checkout"))
                    .with_property(|| ("items", "3"));
            }
        })
    });
    g.finish();

    t.force_flush().unwrap();
    let _ = provider.force_flush();
    fastrace::flush();
    let queue_full = t.drops().by_cause(DropCause::QueueFull) - queue_full_before;
    acc.lines.push(format!(
        "- ours, recorded spans: DropCause::QueueFull = {queue_full}{}",
        if queue_full == 0 {
            ""
        } else {
            " — **non-zero: some spans were dropped by a full queue, so `ours` is flattered**"
        }
    ));
    acc.check(
        "ours, recorded spans",
        ours_n,
        ours_exp.spans.load(Ordering::Relaxed) - spans_before,
    );
    acc.check(
        "OTel BatchSpanProcessor spans",
        otel_n,
        otel_exported.load(Ordering::Relaxed) as u64,
    );
    acc.check(
        "fastrace spans",
        fastrace_n,
        fastrace_reported.load(Ordering::Relaxed) as u64,
    );
    let _ = provider.shutdown();
}

fn recorded_event(c: &mut Criterion, t: &Telemetry, ours_exp: &NullExporter, acc: &mut Accounting) {
    let otel_exported = Arc::new(AtomicUsize::new(0));
    let log_config = opentelemetry_sdk::logs::BatchConfigBuilder::default()
        .with_max_queue_size(1 << 16)
        .with_max_export_batch_size(4096)
        .with_scheduled_delay(Duration::from_millis(50))
        .build();
    let batch_provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_log_processor(
            opentelemetry_sdk::logs::BatchLogProcessor::builder(OtelNullLogExporter(
                otel_exported.clone(),
            ))
            .with_batch_config(log_config)
            .build(),
        )
        .build();
    let noop_provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_log_processor(OtelNoopLogProcessor)
        .build();
    let batch_logger = batch_provider.logger("bench");
    let noop_logger = noop_provider.logger("bench");
    let otel_emit = |logger: &opentelemetry_sdk::logs::SdkLogger| {
        let mut r = logger.create_log_record();
        r.set_event_name("checkout.purchase");
        r.set_severity_number(opentelemetry::logs::Severity::Info);
        r.add_attribute("email", black_box(PURCHASE.email));
        r.add_attribute("amount", black_box(PURCHASE.amount) as i64);
        r.add_attribute("currency", black_box(PURCHASE.currency));
        r.add_attribute("card", "[REDACTED]");
        logger.emit(r);
    };

    let scope = t.subject(GRANTED);
    assert!(t.enabled(Category::BUSINESS));
    t.force_flush().unwrap();
    let queue_full_before = t.drops().by_cause(DropCause::QueueFull);
    let logs_before = ours_exp.logs.load(Ordering::Relaxed);

    let mut ours_n = 0u64;
    let mut otel_n = 0u64;
    let mut g = c.benchmark_group("recorded_event");
    g.bench_function("ours", |b| {
        b.iter(|| {
            ours_n += 1;
            t.emit(black_box(&PURCHASE));
        })
    });
    g.bench_function("otel_log_batch", |b| {
        b.iter(|| {
            otel_n += 1;
            otel_emit(&batch_logger);
        })
    });
    g.bench_function("otel_log_noop_processor", |b| {
        b.iter(|| otel_emit(&noop_logger))
    });
    // What the one hashed field costs by itself: one keyed hash of its
    // value, cut to 16 bytes, computed as capture computes it (a subject's
    // pseudonymous key is the same function under another key).
    let consent = t.consent();
    g.bench_function("keyed_hash_alone", |b| {
        b.iter(|| black_box(consent.subject_key(black_box(PURCHASE.email))))
    });
    // The same hash by the `blake3` crate, which capture leaves to inputs
    // longer than one block: why one block is hashed in our own code.
    g.bench_function("keyed_hash_blake3_crate", |b| {
        b.iter(|| {
            let digest =
                blake3::keyed_hash(black_box(BENCH_KEY), black_box(PURCHASE.email).as_bytes());
            let mut out = [0u8; 16];
            out.copy_from_slice(&digest.as_bytes()[..16]);
            black_box(out)
        })
    });
    g.finish();
    drop(scope);

    t.force_flush().unwrap();
    let _ = batch_provider.force_flush();
    let queue_full = t.drops().by_cause(DropCause::QueueFull) - queue_full_before;
    acc.lines.push(format!(
        "- ours, recorded events: DropCause::QueueFull = {queue_full}{}",
        if queue_full == 0 {
            ""
        } else {
            " — **non-zero: some events were dropped by a full queue, so `ours` is flattered**"
        }
    ));
    acc.check(
        "ours, recorded events",
        ours_n,
        ours_exp.logs.load(Ordering::Relaxed) - logs_before,
    );
    acc.check(
        "OTel BatchLogProcessor records",
        otel_n,
        otel_exported.load(Ordering::Relaxed) as u64,
    );
    let _ = batch_provider.shutdown();
    let _ = noop_provider.shutdown();
}

fn metrics(c: &mut Criterion, t: &Telemetry) {
    let counter = t
        .counter("bench.orders", Category::PERFORMANCE)
        .attribute("a")
        .attribute("b")
        .attribute("c")
        .build()
        .unwrap();
    let histogram = t
        .histogram("bench.latency", Category::PERFORMANCE)
        .attribute("a")
        .attribute("b")
        .attribute("c")
        .boundaries(vec![1.0, 5.0, 10.0, 50.0])
        .build()
        .unwrap();
    let attrs = metric_attrs();
    let bound = counter.bind(&attrs);

    // `ManualReader` needs the `experimental_metrics_custom_reader` feature;
    // a periodic reader with a long interval and a no-op exporter is the
    // same hot path (the interval never elapses during the run).
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(OtelNullMetricExporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .build();
    let meter = provider.meter("bench");
    let otel_counter = meter.u64_counter("bench.orders").build();
    let otel_histogram = meter
        .f64_histogram("bench.latency")
        .with_boundaries(vec![1.0, 5.0, 10.0, 50.0])
        .build();
    let kvs = otel_attrs();

    let mut g = c.benchmark_group("metrics");
    g.bench_function("ours_counter", |b| {
        b.iter(|| counter.add(black_box(1), black_box(&attrs)))
    });
    g.bench_function("otel_counter", |b| {
        b.iter(|| otel_counter.add(black_box(1), black_box(&kvs)))
    });
    g.bench_function("ours_histogram", |b| {
        b.iter(|| histogram.record(black_box(3.2), black_box(&attrs)))
    });
    g.bench_function("otel_histogram", |b| {
        b.iter(|| otel_histogram.record(black_box(3.2), black_box(&kvs)))
    });
    g.bench_function("ours_bound_counter", |b| b.iter(|| bound.add(black_box(1))));
    g.finish();
    assert_eq!(counter.series_count(), 1);
    let _ = provider.shutdown();
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/// How a row's ratio is judged.
enum Target {
    /// ours / peer ≤ this.
    Ratio(f64),
    /// ours ≤ this many ns, no peer.
    Absolute(f64),
    /// Shown for context only.
    Info,
}

struct Row {
    operation: &'static str,
    ours: (&'static str, &'static str, f64),
    peer: Option<(&'static str, &'static str, &'static str, f64)>,
    target: Target,
}

fn row(
    operation: &'static str,
    ours: (&'static str, &'static str),
    peer: Option<(&'static str, &'static str, &'static str)>,
    target: Target,
) -> Row {
    Row {
        operation,
        ours: (ours.0, ours.1, 1.0),
        peer: peer.map(|(name, g, f)| (name, g, f, 1.0)),
        target,
    }
}

fn print_table(since: SystemTime, acc: &Accounting) {
    const CONSENT: &str = "consent_denied";
    const DENIED_TARGET: f64 = 2.0;
    let atomic = Some(("atomic load + branch", CONSENT, "atomic_load_branch"));
    let tracing_peer = Some((
        "tracing::span!, no subscriber",
        CONSENT,
        "tracing_span_no_subscriber",
    ));
    let mut rows = vec![
        row(
            "consent-denied event",
            (CONSENT, "ours_event"),
            atomic,
            Target::Ratio(DENIED_TARGET),
        ),
        row(
            "consent-denied event",
            (CONSENT, "ours_event"),
            tracing_peer,
            Target::Info,
        ),
        row(
            "consent-denied event",
            (CONSENT, "ours_event"),
            Some((
                "atomic load + branch + thread-local count",
                CONSENT,
                "atomic_load_branch_count",
            )),
            Target::Info,
        ),
        row(
            "consent-denied span",
            (CONSENT, "ours_span"),
            atomic,
            Target::Ratio(DENIED_TARGET),
        ),
        row(
            "consent-denied span",
            (CONSENT, "ours_span"),
            tracing_peer,
            Target::Info,
        ),
        row(
            "consent-denied counter (3 attrs)",
            (CONSENT, "ours_counter"),
            atomic,
            Target::Ratio(DENIED_TARGET),
        ),
        row(
            "consent-denied counter (3 attrs)",
            (CONSENT, "ours_counter"),
            tracing_peer,
            Target::Info,
        ),
        row(
            "denied event, cached subject, local store",
            ("shared_store", "local_denied_event"),
            atomic,
            Target::Ratio(DENIED_TARGET),
        ),
        row(
            "denied event, cached subject, shared store",
            ("shared_store", "shared_denied_event"),
            atomic,
            Target::Ratio(DENIED_TARGET),
        ),
        row(
            "consent check (enabled), shared store",
            ("shared_store", "shared_enabled_denied"),
            Some(("same, local store", "shared_store", "local_enabled_denied")),
            Target::Info,
        ),
        row(
            "sampled-out span",
            ("sampled_out_span", "ours"),
            Some((
                "OTel SDK span, AlwaysOff",
                "sampled_out_span",
                "otel_always_off",
            )),
            Target::Ratio(0.1),
        ),
        row(
            "recorded span, 2 attrs",
            ("recorded_span", "ours"),
            Some((
                "OTel SDK span, BatchSpanProcessor",
                "recorded_span",
                "otel_batch",
            )),
            Target::Ratio(0.25),
        ),
        row(
            "recorded span, 2 attrs, installed instance",
            ("recorded_span", "ours_installed"),
            Some((
                "OTel SDK span, BatchSpanProcessor",
                "recorded_span",
                "otel_batch",
            )),
            Target::Info,
        ),
        row(
            "recorded span, per span of root+100 children",
            ("recorded_span", "ours_x100"),
            Some((
                "fastrace LocalSpan, per span",
                "recorded_span",
                "fastrace_x100",
            )),
            Target::Ratio(1.0),
        ),
        row(
            "recorded typed event, 4 fields (1 hashed)",
            ("recorded_event", "ours"),
            Some((
                "OTel SDK log, BatchLogProcessor",
                "recorded_event",
                "otel_log_batch",
            )),
            Target::Ratio(0.25),
        ),
        row(
            "recorded typed event, 4 fields (1 hashed)",
            ("recorded_event", "ours"),
            Some((
                "OTel SDK log, no-op processor",
                "recorded_event",
                "otel_log_noop_processor",
            )),
            Target::Info,
        ),
        row(
            "recorded typed event, 4 fields (1 hashed)",
            ("recorded_event", "ours"),
            Some((
                "its one keyed BLAKE3 hash alone",
                "recorded_event",
                "keyed_hash_alone",
            )),
            Target::Info,
        ),
        row(
            "keyed BLAKE3 of a 15-byte value, as captured",
            ("recorded_event", "keyed_hash_alone"),
            Some((
                "the blake3 crate's keyed_hash",
                "recorded_event",
                "keyed_hash_blake3_crate",
            )),
            Target::Info,
        ),
        row(
            "counter add, 3 attrs",
            ("metrics", "ours_counter"),
            Some(("OTel SDK counter", "metrics", "otel_counter")),
            Target::Ratio(0.5),
        ),
        row(
            "histogram record, 3 attrs",
            ("metrics", "ours_histogram"),
            Some(("OTel SDK histogram", "metrics", "otel_histogram")),
            Target::Ratio(0.5),
        ),
        row(
            "bound counter add",
            ("metrics", "ours_bound_counter"),
            None,
            Target::Absolute(20.0),
        ),
    ];
    // The x100 benchmarks are reported per span.
    for r in &mut rows {
        if r.ours.1 == "ours_x100" {
            r.ours.2 = SPANS_PER_TREE;
        }
        if let Some(p) = &mut r.peer
            && p.2 == "fastrace_x100"
        {
            p.3 = SPANS_PER_TREE;
        }
    }

    println!();
    println!("## telemetry-core hot path vs peers (criterion medians, this run)");
    println!();
    println!("| operation | ours (ns) | peer | peer (ns) | ratio ours/peer | target | met |");
    println!("|---|---:|---|---:|---:|---|:---:|");
    let mut missed = Vec::new();
    for r in &rows {
        let ours = median_ns(r.ours.0, r.ours.1, since).map(|v| v / r.ours.2);
        let peer = r
            .peer
            .and_then(|(_, g, f, div)| median_ns(g, f, since).map(|v| v / div));
        let ratio = match (ours, peer) {
            (Some(o), Some(p)) if p > 0.0 => Some(o / p),
            _ => None,
        };
        let (target, met) = match r.target {
            Target::Ratio(x) => (format!("≤ {x}×"), ratio.map(|q| q <= x)),
            Target::Absolute(ns) => (format!("≤ {ns} ns"), ours.map(|o| o <= ns)),
            Target::Info => ("(context)".to_owned(), None),
        };
        let met_s = match met {
            Some(true) => "yes",
            Some(false) => {
                missed.push(r.operation);
                "**no**"
            }
            None => "",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.operation,
            fmt_ns(ours),
            r.peer.map_or("—", |p| p.0),
            if r.peer.is_some() {
                fmt_ns(peer)
            } else {
                "—".to_owned()
            },
            ratio.map_or_else(|| "—".to_owned(), |q| format!("{q:.3}")),
            target,
            met_s,
        );
    }
    println!();
    println!("Records produced vs exported (a drop would flatter the one that dropped):");
    for line in &acc.lines {
        println!("{line}");
    }
    if !missed.is_empty() {
        println!();
        println!("Targets missed: {}", missed.join("; "));
    }
    println!();
}

fn main() {
    let since = SystemTime::now();
    let mut c = criterion();
    let (t, exporter) = ours();
    let mut acc = Accounting::default();

    consent_denied(&mut c, &t);
    shared_store(&mut c);
    sampled_out_span(&mut c, &t);
    recorded_span(&mut c, &t, &exporter, &mut acc);
    recorded_event(&mut c, &t, &exporter, &mut acc);
    metrics(&mut c, &t);

    c.final_summary();
    let report = t.shutdown(Duration::from_secs(5));
    if !report.is_complete() {
        println!("telemetry shutdown incomplete: {report:?}");
    }
    print_table(since, &acc);
}
