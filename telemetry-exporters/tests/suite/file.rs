//! The file exporter against real disk: write, rotate, read back, compare
//! with what the pipeline exported; faults (unwritable directory, full disk,
//! truncated last line); rotation under concurrent writers; retention.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use telemetry_core::event::*;
use telemetry_core::export::Signal;
use telemetry_core::export::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::trace::*;
use telemetry_core::*;
use telemetry_exporters::file::{
    ExportRequest, FileExporter, Fsync, files, parse_line, read_lines,
};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

pub(crate) fn builder() -> TelemetryBuilder {
    Telemetry::builder()
        .service("file-test", "0.1.0")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(7), KEY)
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::ERRORS),
        )
        .sampler(Sampler::per_category([
            (Category::PERFORMANCE, 1.0),
            (Category::BUSINESS, 0.5),
        ]))
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Every request in every file of `dir`, checking that each line parses as
/// the request type of its file and that no file has a partial line.
fn read_all(dir: &Path) -> (Vec<ExportRequest>, HashMap<Signal, usize>) {
    let mut out = Vec::new();
    let mut counts = HashMap::new();
    for signal in Signal::ALL {
        let list = files(dir, signal).unwrap();
        counts.insert(signal, list.len());
        for path in list {
            let content = read_lines(&path).unwrap();
            assert!(
                content.partial_tail.is_none(),
                "partial line in {}",
                path.display()
            );
            assert!(
                content.invalid_utf8.is_empty(),
                "{}: {:?}",
                path.display(),
                content.invalid_utf8
            );
            for line in content.lines {
                let req =
                    parse_line(&line).unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
                let ok = matches!(
                    (&req, signal),
                    (ExportRequest::Traces(_), Signal::Traces)
                        | (ExportRequest::Logs(_), Signal::Logs)
                        | (ExportRequest::Metrics(_), Signal::Metrics)
                );
                assert!(ok, "{} holds a line of another signal", path.display());
                out.push(req);
            }
        }
    }
    (out, counts)
}

#[test]
fn round_trip_keeps_ids_times_attributes_categories_and_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let mem = InMemoryExporter::new();
    let file = FileExporter::builder(dir.path())
        .max_file_bytes(4096)
        .fsync(Fsync::EveryBatch)
        .build()
        .unwrap();
    let stats = file.stats();
    let t = builder()
        .exporter(file)
        .exporter(mem.clone())
        .batch_size(16)
        .build()
        .unwrap();
    // Performance is exempt: ada grants it too, so its spans may carry her
    // hashed email (an anonymous span would leave it out).
    t.consent()
        .grant(
            "ada",
            CategorySet::from([Category::BUSINESS, Category::PERFORMANCE]),
        )
        .unwrap();
    let orders = t
        .counter("orders", Category::BUSINESS)
        .attribute("currency")
        .build()
        .unwrap();
    let latency = t
        .histogram("latency", Category::PERFORMANCE)
        .unit("ms")
        .boundaries(vec![1.0, 10.0])
        .build()
        .unwrap();
    for i in 0..60u64 {
        let _s = t.subject("ada");
        t.in_span("checkout", Category::PERFORMANCE, |span| {
            span.set_attribute("i", i);
            span.record("email", FieldClass::Hashed, "ada@example.com");
            t.event("cart.viewed", Category::BUSINESS)
                .public("items", i)
                .hashed("email", "ada@example.com")
                .emit();
            orders.add(1, &[("currency", Value::Str("EUR"))]);
            latency.record(i as f64, &[]);
            if i % 10 == 0 {
                span.set_error_description("PaymentDeclined");
            }
        });
        if i % 5 == 0 {
            t.force_flush().unwrap();
        }
    }
    t.shutdown(Duration::from_secs(10));
    let (requests, counts) = read_all(dir.path());
    assert!(
        counts[&Signal::Traces] > 1,
        "size rotation produced several trace files: {counts:?}"
    );
    assert!(stats.rotations() > 0);

    // Spans: every span the pipeline exported is in the files, unchanged.
    let mut file_spans = HashMap::new();
    let mut file_logs = Vec::new();
    let mut orders_seen = None;
    for r in &requests {
        match r {
            ExportRequest::Traces(t) => {
                let rs = &t.resource_spans[0];
                let res = &rs.resource.as_ref().unwrap().attributes;
                assert_eq!(str_attr(res, "service.name").as_deref(), Some("file-test"));
                assert_eq!(
                    rs.scope_spans[0].scope.as_ref().unwrap().name,
                    "telemetry-core"
                );
                for s in &rs.scope_spans[0].spans {
                    file_spans.insert(s.span_id.clone(), s.clone());
                }
            }
            ExportRequest::Logs(l) => {
                file_logs.extend(l.resource_logs[0].scope_logs[0].log_records.clone())
            }
            ExportRequest::Metrics(m) => {
                for metric in &m.resource_metrics[0].scope_metrics[0].metrics {
                    if metric.name == "orders" {
                        orders_seen = Some(metric.clone());
                    }
                }
            }
        }
    }
    let spans = mem.spans();
    assert_eq!(file_spans.len(), spans.len());
    for s in &spans {
        let f = &file_spans[&s.span_id.to_bytes().to_vec()];
        assert_eq!(f.trace_id, s.trace_id.to_bytes().to_vec());
        assert_eq!(f.name, "checkout");
        assert_eq!(f.start_time_unix_nano, unix_nanos(s.start));
        assert_eq!(f.end_time_unix_nano, unix_nanos(s.end));
        assert_eq!(
            str_attr(&f.attributes, "telemetry.category").as_deref(),
            Some("performance")
        );
        assert_eq!(
            attr(&f.attributes, "telemetry.sample.probability"),
            Some(&any_value::Value::DoubleValue(1.0))
        );
        assert_eq!(
            attr(&f.attributes, "telemetry.hash.key_id"),
            Some(&any_value::Value::IntValue(7))
        );
        let Some(AttrValue::U64(i)) = s
            .attributes
            .iter()
            .find(|a| a.key == "i")
            .map(|a| a.value.clone())
        else {
            panic!()
        };
        assert_eq!(
            attr(&f.attributes, "i"),
            Some(&any_value::Value::IntValue(i as i64))
        );
        let status = f.status.as_ref().unwrap();
        if i % 10 == 0 {
            assert_eq!(
                (status.code, status.message.as_str()),
                (2, "PaymentDeclined")
            );
        }
    }
    // Events: sampled at 0.5, each carrying its probability, trace link and subject.
    let events = mem.events_named("cart.viewed");
    assert!(!events.is_empty());
    let file_events: Vec<_> = file_logs
        .iter()
        .filter(|l| l.event_name == "cart.viewed")
        .collect();
    assert_eq!(file_events.len(), events.len());
    for (f, e) in file_events.iter().zip(&events) {
        assert_eq!(f.time_unix_nano, unix_nanos(e.time));
        assert_eq!(f.trace_id, e.trace.unwrap().trace_id.to_bytes().to_vec());
        assert_eq!(f.span_id, e.trace.unwrap().span_id.to_bytes().to_vec());
        assert_eq!(
            attr(&f.attributes, "telemetry.sample.probability"),
            Some(&any_value::Value::DoubleValue(0.5))
        );
        assert_eq!(
            str_attr(&f.attributes, "telemetry.category").as_deref(),
            Some("business")
        );
        assert_eq!(
            str_attr(&f.attributes, "telemetry.subject"),
            Some(t.consent().subject_key("ada").to_hex())
        );
        assert_eq!(
            str_attr(&f.attributes, "email").map(|h| h.len()),
            Some(32),
            "hashed as hex"
        );
        assert_eq!(f.severity_text, "INFO");
    }
    let orders = orders_seen.expect("orders metric in the files");
    let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) = orders.data else {
        panic!()
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2, "cumulative");
    let total = match sum.data_points[0].value {
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v)) => v,
        _ => panic!(),
    };
    assert_eq!(total, 60);
    // Raw values never reach the disk.
    for signal in Signal::ALL {
        for path in files(dir.path(), signal).unwrap() {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("ada@example.com"));
            assert!(!text.contains("\"ada\""));
        }
    }
}

#[test]
fn lines_are_otlp_json_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let t = builder()
        .exporter(FileExporter::builder(dir.path()).build().unwrap())
        .build()
        .unwrap();
    t.in_span("op", Category::PERFORMANCE, |_| {});
    t.event("e", Category::ERRORS).emit();
    t.shutdown(Duration::from_secs(5));
    let trace_file = &files(dir.path(), Signal::Traces).unwrap()[0];
    let line = &read_lines(trace_file).unwrap().lines[0];
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let span = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert!(
        span["traceId"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_hexdigit())
    );
    assert_eq!(span["traceId"].as_str().unwrap().len(), 32);
    assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
    assert!(
        span["startTimeUnixNano"].is_string(),
        "64-bit integers as strings"
    );
    assert_eq!(span["kind"], 1, "enums as integers");
    let log_file = &files(dir.path(), Signal::Logs).unwrap()[0];
    let v: serde_json::Value =
        serde_json::from_str(&read_lines(log_file).unwrap().lines[0]).unwrap();
    let rec = &v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(rec["eventName"], "e");
    assert_eq!(rec["severityNumber"], 17);
}

#[test]
fn retention_keeps_the_newest_files_and_age_rotation_starts_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = FileExporter::builder(dir.path())
        .max_file_age(Duration::from_millis(20))
        .max_files(3)
        .build()
        .unwrap();
    let stats = file.stats();
    let t = builder().exporter(file).build().unwrap();
    for _ in 0..8 {
        t.event("tick", Category::PERFORMANCE).emit();
        t.force_flush().unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    t.shutdown(Duration::from_secs(5));
    let logs = files(dir.path(), Signal::Logs).unwrap();
    assert_eq!(logs.len(), 3, "{logs:?}");
    assert!(stats.files_deleted() >= 5);
    // File names sort by time: the survivors are the newest, in order.
    let names: Vec<_> = logs
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let (reqs, _) = read_all(dir.path());
    assert!(!reqs.is_empty());
}

#[test]
fn rotation_under_concurrent_writers_loses_and_corrupts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = FileExporter::builder(dir.path())
        .max_file_bytes(16 * 1024)
        .max_files(10_000)
        .build()
        .unwrap();
    let t = builder()
        .exporter(file)
        .queue_capacity(100_000)
        .batch_size(50)
        .flush_interval(Duration::from_millis(2))
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|th| {
            let t = t.clone();
            std::thread::spawn(move || {
                for i in 0..2_000u64 {
                    t.event("work", Category::PERFORMANCE)
                        .public("thread", th)
                        .public("i", i)
                        .emit();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let report = t.shutdown(Duration::from_secs(20));
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(t.drops().total(), 0, "{:?}", t.drops());
    let (requests, counts) = read_all(dir.path());
    assert!(counts[&Signal::Logs] > 3, "{counts:?}");
    let mut seen = std::collections::HashSet::new();
    for r in requests {
        if let ExportRequest::Logs(l) = r {
            for rec in &l.resource_logs[0].scope_logs[0].log_records {
                let (Some(any_value::Value::IntValue(th)), Some(any_value::Value::IntValue(i))) = (
                    attr(&rec.attributes, "thread").cloned(),
                    attr(&rec.attributes, "i").cloned(),
                ) else {
                    panic!()
                };
                assert!(seen.insert((th, i)), "duplicate record {th}/{i}");
            }
        }
    }
    assert_eq!(seen.len(), 8_000);
}

/// On Linux the exporter reserves room on disk ahead of its writes
/// (`fallocate`, keeping the size); none of it is left once a file is
/// closed, here at shutdown.
#[test]
fn room_reserved_ahead_of_writes_is_given_back_when_files_close() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let file = FileExporter::builder(dir.path())
        .max_file_bytes(64 << 20)
        .build()
        .unwrap();
    let t = builder().exporter(file).build().unwrap();
    for i in 0..100u64 {
        t.event("work", Category::PERFORMANCE).public("i", i).emit();
    }
    t.force_flush().unwrap();
    let logs = files(dir.path(), Signal::Logs).unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let on_disk = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.len(), m.blocks() * 512)
    };
    let (len, used) = on_disk(&logs[0]);
    if used < 4 << 20 {
        eprintln!("no room reserved on this filesystem ({used} bytes used for {len})");
    }
    let report = t.shutdown(Duration::from_secs(10));
    assert!(report.is_complete(), "{report:?}");
    let (len_after, used_after) = on_disk(&logs[0]);
    assert_eq!(len_after, len, "closing changed the file's length");
    assert!(
        used_after <= len.next_multiple_of(4096) + 4096,
        "{used_after} bytes still used for a file of {len}"
    );
}

#[test]
fn a_truncated_last_line_is_reported_apart() {
    let dir = tempfile::tempdir().unwrap();
    let t = builder()
        .exporter(FileExporter::builder(dir.path()).build().unwrap())
        .build()
        .unwrap();
    for _ in 0..3 {
        t.event("e", Category::PERFORMANCE).emit();
        t.force_flush().unwrap();
    }
    t.shutdown(Duration::from_secs(5));
    let path = &files(dir.path(), Signal::Logs).unwrap()[0];
    // Simulate a crash mid-write: append half a line.
    let full = std::fs::read_to_string(path).unwrap();
    let first = full.lines().next().unwrap();
    std::fs::write(path, format!("{full}{}", &first[..first.len() / 2])).unwrap();
    let content = read_lines(path).unwrap();
    assert_eq!(content.lines.len(), 3);
    assert!(content.lines.iter().all(|l| parse_line(l).is_ok()));
    let tail = content.partial_tail.expect("partial tail");
    assert!(parse_line(&tail).is_err());
}

#[test]
fn a_directory_that_cannot_be_created_is_a_build_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let err = FileExporter::builder(blocker.join("telemetry"))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Exporter);
    let msg = err.to_string();
    assert!(
        msg.contains("cannot create the telemetry directory") && msg.contains("not-a-dir"),
        "{msg}"
    );
    let err = FileExporter::builder(dir.path())
        .max_file_bytes(10)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_file_bytes is 10"), "{err}");
}

/// A tmpfs of `size`, mounted for the test; `None` where mounting is not
/// allowed (not root): such tests fall back to an injected error.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(opts: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_read_only_directory_is_a_build_error() {
    let Some(fs) = Tmpfs::mount("size=64k,ro") else {
        eprintln!("cannot mount a tmpfs here (not root?): read-only case not run");
        return;
    };
    let err = FileExporter::builder(fs.path()).build().unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot write to the telemetry directory"),
        "{err}"
    );
}

fn fill_then_free(dir: &Path, inject: Option<Arc<AtomicBool>>, filler: Option<&Path>) {
    let mut b = FileExporter::builder(dir)
        .fsync(Fsync::Never)
        .max_file_bytes(1 << 30);
    if let Some(flag) = &inject {
        b = b.inject_write_failures(flag.clone());
    }
    let file = b.build().unwrap();
    let stats = file.stats();
    let t = builder().exporter(file).build().unwrap();
    let payload = "x".repeat(900);
    let emit_batch = |tag: &str| {
        for _ in 0..10 {
            t.event("fill", Category::PERFORMANCE)
                .public("tag", tag)
                .public("payload", payload.as_str())
                .emit();
        }
        t.force_flush()
    };
    assert!(emit_batch("before").is_ok());
    // Fill the disk.
    match (&inject, filler) {
        (Some(flag), _) => flag.store(true, Ordering::SeqCst),
        (None, Some(filler)) => {
            let mut f = std::fs::File::create(filler).unwrap();
            let chunk = vec![0u8; 4096];
            while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
        }
        _ => unreachable!(),
    }
    let mut failures = 0;
    for _ in 0..5 {
        if emit_batch("during").is_err() {
            failures += 1;
        }
    }
    assert!(failures > 0, "writes should fail while the disk is full");
    assert!(stats.failed_no_space() > 0);
    assert!(
        t.drops()
            .get(DropCause::ExporterFailure, Category::PERFORMANCE)
            >= 10
    );
    // The service keeps running; free the space and writing resumes.
    match (&inject, filler) {
        (Some(flag), _) => flag.store(false, Ordering::SeqCst),
        (None, Some(filler)) => std::fs::remove_file(filler).unwrap(),
        _ => unreachable!(),
    }
    assert!(emit_batch("after").is_ok());
    t.shutdown(Duration::from_secs(5));
    // No partial line anywhere; the "after" batch is on disk.
    let (requests, _) = read_all(dir);
    let tags: Vec<String> = requests
        .iter()
        .filter_map(|r| match r {
            ExportRequest::Logs(l) => Some(l.resource_logs[0].scope_logs[0].log_records.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|r| str_attr(&r.attributes, "tag"))
        .collect();
    assert!(tags.iter().filter(|t| *t == "before").count() == 10);
    assert!(tags.iter().filter(|t| *t == "after").count() == 10);
}

#[test]
fn a_full_disk_drops_and_counts_then_writing_resumes() {
    match Tmpfs::mount("size=256k") {
        Some(fs) => {
            let dir = fs.path().join("out");
            fill_then_free(&dir, None, Some(&fs.path().join("filler")));
        }
        None => {
            eprintln!("cannot mount a tmpfs here (not root?): only the injected-error case runs")
        }
    }
}

#[test]
fn injected_write_errors_drop_and_count_then_writing_resumes() {
    let dir = tempfile::tempdir().unwrap();
    fill_then_free(dir.path(), Some(Arc::new(AtomicBool::new(false))), None);
}

/// The direct encoder and `opentelemetry-proto`'s serde encoding parse to
/// the same messages, for records exercising every field.
#[test]
fn direct_encoding_matches_opentelemetry_proto() {
    use telemetry_exporters::otlp_json::{encode_logs, encode_traces};
    use telemetry_exporters::proto::{logs_request, trace_request};
    let mem = InMemoryExporter::new();
    let t = builder()
        .exporter(mem.clone())
        .sampler(Sampler::always())
        .limits(Limits {
            max_attributes: 8,
            ..Limits::default()
        })
        .build()
        .unwrap();
    t.consent().grant("zed", Category::BUSINESS).unwrap();
    {
        let _s = t.subject("zed");
        let remote = SpanContext::from_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .unwrap();
        let _g = Context::current().with_span_context(remote).attach();
        t.in_span("outer \"quoted\"\n", Category::PERFORMANCE, |s| {
            s.set_attribute("neg", -5i64);
            s.set_attribute("big", u64::MAX);
            s.set_attribute("pi", 3.25f64);
            s.set_attribute("flag", false);
            s.set_attribute("text", "tab\there é \u{1}");
            s.record("secret", FieldClass::Hashed, "x");
            s.record("card", FieldClass::Redacted, "4242");
            s.add_event("step", &[("n", Value::U64(1))]);
            s.set_error_description("Boom");
            t.in_span("inner", Category::PERFORMANCE, |s| s.set_ok());
            for i in 0..12u64 {
                t.event("business.evt", Category::BUSINESS)
                    .public("i", i)
                    .public("s", "v")
                    .hashed("h", "y")
                    .emit();
            }
            t.event("with.body", Category::ERRORS)
                .body("static message")
                .emit();
        });
        t.emit(&Plain);
    }
    t.force_flush().unwrap();
    let (resource, names) = (mem.resource().unwrap(), t.categories().clone());
    let spans = mem.spans();
    let logs = mem.logs();
    assert!(
        spans.len() == 2 && logs.len() == 15,
        "{} spans, {} logs",
        spans.len(),
        logs.len()
    );
    let mut out = Vec::new();
    encode_traces(&mut out, &resource, &names, &spans);
    let direct: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_slice(&out).unwrap();
    assert_eq!(direct, trace_request(&resource, &names, &spans));
    out.clear();
    encode_logs(&mut out, &resource, &names, &logs);
    let direct: opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest =
        serde_json::from_slice(&out).unwrap();
    assert_eq!(direct, logs_request(&resource, &names, &logs));
}

/// The direct metrics encoder and `opentelemetry-proto`'s serde encoding
/// parse to the same messages, for every kind of metric and point.
#[test]
fn direct_metrics_encoding_matches_opentelemetry_proto() {
    use std::time::SystemTime;
    use telemetry_core::export::{
        HistogramPoint, MetricData, MetricPoints, Number, NumberPoint, Temporality,
    };
    use telemetry_exporters::otlp_json::encode_metrics;
    use telemetry_exporters::proto::metrics_request;
    let mem = InMemoryExporter::new();
    let t = builder().exporter(mem.clone()).build().unwrap();
    t.event("e", Category::PERFORMANCE).emit();
    t.shutdown(Duration::from_secs(5));
    let resource = mem.resource().unwrap();
    let names = t.categories().clone();
    let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s);
    let point = |attrs: Vec<Attribute>, value| NumberPoint {
        attributes: attrs,
        start: at(0),
        time: at(60),
        value,
        exemplars: Vec::new(),
    };
    let tagged = vec![
        Attribute::new("currency", "EUR \"quoted\""),
        Attribute::new("n", AttrValue::I64(-3)),
    ];
    let own_category = vec![Attribute::new("telemetry.category", "business")];
    let metric = |name: &'static str, category, points| MetricData {
        name: name.into(),
        description: "what it counts".into(),
        unit: "{order}".into(),
        category,
        points,
    };
    let metrics = vec![
        metric(
            "orders",
            Category::BUSINESS,
            MetricPoints::Sum {
                monotonic: true,
                temporality: Temporality::Cumulative,
                points: vec![
                    point(tagged.clone(), Number::I64(i64::MAX)),
                    point(vec![], Number::I64(0)),
                ],
            },
        ),
        metric(
            "balance",
            Category::PERFORMANCE,
            MetricPoints::Sum {
                monotonic: false,
                temporality: Temporality::Delta,
                points: vec![point(own_category.clone(), Number::F64(-2.5))],
            },
        ),
        metric(
            "temperature",
            Category::PERFORMANCE,
            MetricPoints::Gauge {
                points: vec![
                    point(vec![], Number::F64(0.1)),
                    point(tagged.clone(), Number::I64(-7)),
                ],
            },
        ),
        metric(
            "latency",
            Category::PERFORMANCE,
            MetricPoints::Histogram {
                temporality: Temporality::Delta,
                points: vec![
                    HistogramPoint {
                        attributes: tagged,
                        start: at(0),
                        time: at(60),
                        count: 3,
                        sum: 12.75,
                        min: Some(0.25),
                        max: Some(10.0),
                        bounds: std::sync::Arc::from([1.0, 5.0, 1e300]),
                        bucket_counts: vec![1, 1, 1, 0],
                        exemplars: Vec::new(),
                    },
                    HistogramPoint {
                        attributes: own_category,
                        start: at(0),
                        time: at(60),
                        count: 0,
                        sum: 0.0,
                        min: None,
                        max: None,
                        bounds: std::sync::Arc::from([]),
                        bucket_counts: vec![0],
                        exemplars: Vec::new(),
                    },
                ],
            },
        ),
    ];
    let mut out = Vec::new();
    encode_metrics(&mut out, &resource, &names, &metrics);
    let direct: opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest =
        serde_json::from_slice(&out).unwrap();
    assert_eq!(direct, metrics_request(&resource, &names, &metrics));
    out.clear();
    encode_metrics(&mut out, &resource, &names, &[]);
    let empty: opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest =
        serde_json::from_slice(&out).unwrap();
    assert_eq!(empty, metrics_request(&resource, &names, &[]));
}

struct Plain;
impl TelemetryEvent for Plain {
    const SCHEMA: &'static EventSchema = &EventSchema {
        name: "typed.plain",
        category: Category::BUSINESS,
        version: 3,
        description: "",
        fields: &[FieldSchema {
            name: "d",
            ty: FieldType::Duration,
            class: FieldClass::Public,
        }],
    };
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field(0, Duration::from_millis(5).to_value());
    }
}

#[test]
fn lists_and_maps_are_otlp_arrays_and_key_value_lists() {
    let dir = tempfile::tempdir().unwrap();
    let t = builder()
        .exporter(FileExporter::builder(dir.path()).build().unwrap())
        .build()
        .unwrap();
    let tags = vec!["red".to_owned(), "large".to_owned()];
    let mut plan = std::collections::BTreeMap::new();
    plan.insert("seats", 10u64);
    plan.insert("tier", 2u64);
    let ids = [42u64, 7];
    // Hashed values travel only in records that may identify their subject.
    t.consent().grant("ann", Category::PERFORMANCE).unwrap();
    let _ann = t.subject("ann");
    t.event("e", Category::PERFORMANCE)
        .public("tags", &tags)
        .public("plan", &plan)
        .public("ids", Seq(&ids[..]))
        .hashed("emails", vec!["a@example.com", "b@example.com"])
        .emit();
    drop(_ann);
    t.shutdown(Duration::from_secs(5));
    let lines: Vec<String> = files(dir.path(), Signal::Logs)
        .unwrap()
        .iter()
        .flat_map(|f| read_lines(f).unwrap().lines)
        .collect();
    let ExportRequest::Logs(logs) = parse_line(&lines[0]).unwrap() else {
        panic!()
    };
    let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
    let Some(any_value::Value::ArrayValue(a)) = attr(&record.attributes, "tags") else {
        panic!("{:?}", record.attributes)
    };
    let tags_back: Vec<_> = a
        .values
        .iter()
        .map(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tags_back, tags);
    let Some(any_value::Value::KvlistValue(kv)) = attr(&record.attributes, "plan") else {
        panic!()
    };
    assert_eq!(kv.values.len(), 2);
    assert_eq!(kv.values[0].key, "seats");
    assert_eq!(
        kv.values[0].value.as_ref().and_then(|v| v.value.clone()),
        Some(any_value::Value::IntValue(10))
    );
    let Some(any_value::Value::ArrayValue(ids_back)) = attr(&record.attributes, "ids") else {
        panic!()
    };
    assert_eq!(ids_back.values.len(), 2);
    // A hashed list is one digest: no element leaves the process.
    let Some(any_value::Value::StringValue(digest)) = attr(&record.attributes, "emails") else {
        panic!()
    };
    assert_eq!(digest.len(), 32);
    let all = lines.join("\n");
    assert!(!all.contains("example.com"), "{all}");
}

/// Writes 300 events in one-record batches into `dir` in `format`,
/// rotating every 4 KiB with gzip, and checks what is listed: every
/// rotated file compressed, the open one plain, no temporary file left.
/// Returns the listed files, oldest first.
pub(crate) fn compressed_rotation_burst(
    dir: &std::path::Path,
    format: telemetry_exporters::file::FileFormat,
) -> Vec<std::path::PathBuf> {
    let t = builder()
        .batch_size(1)
        .exporter(
            FileExporter::builder(dir)
                .format(format)
                .max_file_bytes(4096)
                .max_files(10_000)
                .compress_rotated(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for i in 0..300u64 {
        t.event("burst", Category::PERFORMANCE)
            .public("i", i)
            .public("route", "/checkout/payment")
            .emit();
        if i % 50 == 0 {
            t.force_flush().unwrap();
        }
    }
    t.shutdown(Duration::from_secs(10));
    let listed = files(dir, Signal::Logs).unwrap();
    assert!(listed.len() > 2, "{listed:?}");
    let (last, rotated) = listed.split_last().unwrap();
    let ext = format.extension();
    assert!(
        rotated
            .iter()
            .all(|p| p.to_string_lossy().ends_with(&format!("{ext}.gz"))),
        "{listed:?}"
    );
    assert!(
        last.to_string_lossy().ends_with(ext),
        "the open file stays plain"
    );
    let no_tmp = std::fs::read_dir(dir)
        .unwrap()
        .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp"));
    assert!(no_tmp);
    listed
}

#[test]
fn rotated_files_can_be_compressed_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let listed =
        compressed_rotation_burst(dir.path(), telemetry_exporters::file::FileFormat::JsonLines);
    // Every event reads back, from compressed and plain files alike.
    let mut seen = std::collections::BTreeSet::new();
    for path in &listed {
        for line in read_lines(path).unwrap().lines {
            let ExportRequest::Logs(logs) = parse_line(&line).unwrap() else {
                continue;
            };
            for r in logs
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                if let Some(any_value::Value::IntValue(i)) = attr(&r.attributes, "i") {
                    seen.insert(*i);
                }
            }
        }
    }
    assert_eq!(seen.len(), 300);
    // A plain file left beside its complete compressed copy (a crash
    // between the rename and the removal) is not listed twice.
    let gz = &listed[0];
    let plain = gz.with_extension("");
    std::fs::write(&plain, b"{}\n").unwrap();
    assert_eq!(files(dir.path(), Signal::Logs).unwrap().len(), listed.len());
    // A corrupt compressed file is an error, not a panic.
    std::fs::write(gz, b"\x1f\x8b not really gzip").unwrap();
    assert!(read_lines(gz).is_err());
}
