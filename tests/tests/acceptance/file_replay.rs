//! Replay into a real collector: the file exporter's lines are posted to a
//! rotel collector's OTLP/HTTP endpoint on 127.0.0.1; they are accepted, and
//! what arrives matches what was written.
//!
//! Traces and logs lines are posted as they are (`application/json`).
//! Metrics lines are parsed as OTLP/JSON and posted as protobuf: rotel
//! 0.0.1a15 answers 200 to spec-conformant OTLP/JSON metrics (64-bit
//! integers as strings) but drops their values, a bug on its side; the
//! parse step still checks that our metrics lines are valid OTLP/JSON.
//!
//! The protobuf file format replays the same way: every message of the
//! files is posted as it is (`application/x-protobuf`), the rotated ones
//! read from their `.gz` copies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prost::Message;
use telemetry_core::export::Signal;
use telemetry_core::*;
use telemetry_exporters::file::{
    ExportRequest, FileExporter, FileExporterBuilder, FileFormat, files, parse_line, read_lines,
    read_messages,
};
use telemetry_exporters::opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use telemetry_exporters::opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use telemetry_tests::Collector;

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => format!("s:{s}"),
                Some(any_value::Value::IntValue(i)) => format!("i:{i}"),
                Some(any_value::Value::DoubleValue(d)) => format!("d:{d}"),
                Some(any_value::Value::BoolValue(b)) => format!("b:{b}"),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

type SpanKey = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    String,
    u64,
    u64,
    BTreeMap<String, String>,
    i32,
);
type LogKey = (String, u64, Vec<u8>, Vec<u8>, i32, BTreeMap<String, String>);

#[derive(Default)]
struct Seen {
    spans: BTreeSet<SpanKey>,
    logs: BTreeSet<LogKey>,
    sums: BTreeMap<String, i64>,
    histogram_counts: BTreeMap<String, u64>,
    services: BTreeSet<String>,
}

fn collect(requests: impl IntoIterator<Item = ExportRequest>) -> Seen {
    let mut seen = Seen::default();
    for r in requests {
        match r {
            ExportRequest::Traces(t) => {
                for rs in t.resource_spans {
                    if let Some(res) = &rs.resource {
                        seen.services
                            .extend(attrs(&res.attributes).get("service.name").cloned());
                    }
                    for s in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                        let status = s.status.map_or(0, |st| st.code);
                        seen.spans.insert((
                            s.trace_id,
                            s.span_id,
                            s.parent_span_id,
                            s.name,
                            s.start_time_unix_nano,
                            s.end_time_unix_nano,
                            attrs(&s.attributes),
                            status,
                        ));
                    }
                }
            }
            ExportRequest::Logs(l) => {
                for rl in l.resource_logs {
                    for r in rl.scope_logs.into_iter().flat_map(|s| s.log_records) {
                        seen.logs.insert((
                            r.event_name,
                            r.time_unix_nano,
                            r.trace_id,
                            r.span_id,
                            r.severity_number,
                            attrs(&r.attributes),
                        ));
                    }
                }
            }
            ExportRequest::Metrics(m) => {
                for rm in m.resource_metrics {
                    for metric in rm.scope_metrics.into_iter().flat_map(|s| s.metrics) {
                        match metric.data {
                            Some(metric::Data::Sum(sum)) => {
                                let total: i64 = sum
                                    .data_points
                                    .iter()
                                    .map(|p| match p.value {
                                        Some(number_data_point::Value::AsInt(i)) => i,
                                        _ => 0,
                                    })
                                    .sum();
                                seen.sums.insert(metric.name, total);
                            }
                            Some(metric::Data::Histogram(h)) => {
                                seen.histogram_counts.insert(
                                    metric.name,
                                    h.data_points.iter().map(|p| p.count).sum(),
                                );
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    seen
}

/// Records the replay workload through `exporter` (into its directory).
fn record(exporter: FileExporterBuilder) {
    let t = Telemetry::builder()
        .service("replay-test", "1.0.0")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE)
                .exempt(Category::ERRORS),
        )
        .sampler(Sampler::per_category([(Category::BUSINESS, 0.5)]))
        .hash_key(KeyId(3), b"replay test key material 0123456789")
        .batch_size(25)
        .exporter(exporter.build().unwrap())
        .build()
        .unwrap();
    t.consent().grant("ana", Category::BUSINESS).unwrap();
    let orders = t
        .counter("replay.orders", Category::BUSINESS)
        .attribute("currency")
        .build()
        .unwrap();
    let latency = t
        .histogram("replay.latency", Category::PERFORMANCE)
        .unit("ms")
        .build()
        .unwrap();
    for i in 0..80u64 {
        let _s = t.subject("ana");
        t.in_span("replay.request", Category::PERFORMANCE, |span| {
            span.set_attribute("i", i);
            span.record("email", FieldClass::Hashed, "ana@example.com");
            t.in_span("replay.db", Category::PERFORMANCE, |db| {
                if i % 7 == 0 {
                    db.set_error_description("Timeout");
                }
            });
            t.event("replay.purchase", Category::BUSINESS)
                .public("amount", i * 100)
                .hashed("email", "ana@example.com")
                .emit();
            orders.add(1, &[("currency", Value::Str("EUR"))]);
            latency.record(i as f64, &[]);
        });
        if i % 20 == 0 {
            t.event("replay.error", Category::ERRORS)
                .public("code", "E42")
                .emit();
        }
    }
    t.consent().revoke("bea", Category::BUSINESS).unwrap();
    assert!(t.shutdown(Duration::from_secs(10)).is_complete());
}

/// What was written holds the whole workload.
fn check_written(expected: &Seen) {
    assert!(
        expected.spans.len() == 160,
        "{} spans written",
        expected.spans.len()
    );
    // About half the 80 purchases are sampled (p = 0.5 on random trace ids),
    // plus the errors and the consent audit: far more than 20.
    assert!(
        expected.logs.len() > 20,
        "{} log records written",
        expected.logs.len()
    );
}

/// Posts every request to a fresh collector, then checks that what arrives
/// matches what was written.
fn replay_and_check(posts: &[(&str, &str, Vec<u8>)], expected: &Seen) {
    let collector = Collector::start().unwrap();
    for (path, content_type, body) in posts {
        let status = collector.post(path, content_type, body).unwrap();
        assert_eq!(status, 200, "POST {path} ({content_type}) refused");
    }
    let received = || {
        let lines = ["traces", "logs", "metrics"]
            .into_iter()
            .flat_map(|s| collector.lines(s));
        collect(lines.map(|l| parse_line(&l).unwrap()).collect::<Vec<_>>())
    };
    let complete = collector.wait_for(Duration::from_secs(15), |_| {
        let r = received();
        r.spans.len() >= expected.spans.len()
            && r.logs.len() >= expected.logs.len()
            && !r.histogram_counts.is_empty()
    });
    assert!(complete, "the collector did not receive everything in time");
    let got = received();
    assert_eq!(got.services, BTreeSet::from(["s:replay-test".to_owned()]));
    assert_eq!(got.spans, expected.spans, "spans changed on the way");
    assert_eq!(got.logs, expected.logs, "log records changed on the way");
    assert_eq!(
        got.sums.get("replay.orders"),
        expected.sums.get("replay.orders")
    );
    assert_eq!(got.sums.get("replay.orders"), Some(&80));
    assert_eq!(got.histogram_counts.get("replay.latency"), Some(&80));
    // Categories, probabilities and key ids arrived.
    let purchase = got
        .logs
        .iter()
        .find(|l| l.0 == "replay.purchase")
        .expect("purchases arrive");
    assert_eq!(
        purchase.5.get("telemetry.category").map(String::as_str),
        Some("s:business")
    );
    assert_eq!(
        purchase
            .5
            .get("telemetry.sample.probability")
            .map(String::as_str),
        Some("d:0.5")
    );
    assert_eq!(
        purchase.5.get("telemetry.hash.key_id").map(String::as_str),
        Some("i:3")
    );
    assert!(
        got.logs
            .iter()
            .any(|l| l.0 == "telemetry.consent.deletion_request")
    );
    let raw = std::fs::read_to_string(collector.out.join("logs.jsonl")).unwrap();
    assert!(!raw.contains("ana@example.com"));
}

#[test]
fn file_lines_replay_into_a_real_collector_unchanged() {
    // 1. Record to files.
    let dir = tempfile::tempdir().unwrap();
    record(FileExporter::builder(dir.path()).max_file_bytes(32 * 1024));

    // 2. Read the files back; every line is valid OTLP/JSON.
    let mut written = Vec::new();
    let mut posts = Vec::new();
    for signal in Signal::ALL {
        for path in files(dir.path(), signal).unwrap() {
            for line in read_lines(&path).unwrap().lines {
                let req = parse_line(&line).unwrap();
                let post = match &req {
                    ExportRequest::Traces(_) => {
                        ("/v1/traces", "application/json", line.into_bytes())
                    }
                    ExportRequest::Logs(_) => ("/v1/logs", "application/json", line.into_bytes()),
                    ExportRequest::Metrics(m) => {
                        ("/v1/metrics", "application/x-protobuf", m.encode_to_vec())
                    }
                };
                posts.push(post);
                written.push(req);
            }
        }
    }
    let expected = collect(written);
    check_written(&expected);

    // 3. Post every line to the collector; 4. what arrives matches what
    // was written.
    replay_and_check(&posts, &expected);
}

#[test]
fn protobuf_files_replay_into_a_real_collector_unchanged() {
    // 1. Record to protobuf files, the rotated ones gzipped (smaller
    // files than for JSON, so that these rotate too: the same requests take
    // well under half the bytes).
    let dir = tempfile::tempdir().unwrap();
    record(
        FileExporter::builder(dir.path())
            .format(FileFormat::Protobuf)
            .max_file_bytes(8 * 1024)
            .compress_rotated(true),
    );

    // 2. Read the files back: every message decodes, none is torn, and
    // the messages are the files' bytes (so posting them re-encoded posts
    // what the files hold).
    let mut written = Vec::new();
    let mut posts = Vec::new();
    let mut compressed = 0;
    for signal in Signal::ALL {
        for path in files(dir.path(), signal).unwrap() {
            assert_eq!(FileFormat::of_path(&path), Some(FileFormat::Protobuf));
            let content = read_messages(&path).unwrap();
            assert!(content.partial_tail.is_none() && content.invalid.is_empty());
            let mut reencoded = Vec::new();
            for req in content.requests {
                let (endpoint, body) = match &req {
                    ExportRequest::Traces(t) => ("/v1/traces", t.encode_to_vec()),
                    ExportRequest::Logs(l) => ("/v1/logs", l.encode_to_vec()),
                    ExportRequest::Metrics(m) => ("/v1/metrics", m.encode_to_vec()),
                };
                prost::encoding::encode_varint(body.len() as u64, &mut reencoded);
                reencoded.extend_from_slice(&body);
                posts.push((endpoint, "application/x-protobuf", body));
                written.push(req);
            }
            if path.extension().is_some_and(|e| e == "gz") {
                compressed += 1;
            } else {
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    reencoded,
                    "{}",
                    path.display()
                );
            }
        }
    }
    assert!(compressed > 0, "size rotation produced compressed files");
    let expected = collect(written);
    check_written(&expected);

    // 3. Post every message to the collector; 4. what arrives matches what
    // was written.
    replay_and_check(&posts, &expected);
}
