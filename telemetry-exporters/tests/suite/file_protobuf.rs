//! The file exporter's protobuf format against real disk: the same requests
//! as the JSON lines for the same records, rotation and gzip, torn and
//! corrupt files (a torn tail, a length prefix above the cap, a message that
//! does not decode, arbitrary bytes), a writer killed with SIGKILL, and a
//! full disk.
//!
//! `a_writer_killed_mid_stream_leaves_a_readable_file` runs the suite's
//! binary again as the writer it kills.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use proptest::prelude::*;
use telemetry_core::export::Signal;
use telemetry_core::*;
use telemetry_exporters::file::{
    ExportRequest, FileExporter, FileFormat, Fsync, MAX_MESSAGE_BYTES, files, parse_line,
    read_lines, read_messages, read_messages_as,
};

/// The file tests' instance (opt-in business sampled at 0.5, exempt
/// performance and errors, a hash key), under this test's service name.
fn builder() -> TelemetryBuilder {
    crate::file::builder().service("file-protobuf-test", "0.1.0")
}

fn protobuf(dir: &Path) -> telemetry_exporters::file::FileExporterBuilder {
    FileExporter::builder(dir).format(FileFormat::Protobuf)
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn signal_of(request: &ExportRequest) -> Signal {
    match request {
        ExportRequest::Traces(_) => Signal::Traces,
        ExportRequest::Logs(_) => Signal::Logs,
        ExportRequest::Metrics(_) => Signal::Metrics,
    }
}

/// Every request of a JSON-lines series, in file order per signal; no file
/// may have a partial or invalid line.
fn read_json(dir: &Path, signal: Signal) -> Vec<ExportRequest> {
    let mut out = Vec::new();
    for path in files(dir, signal).unwrap() {
        assert_eq!(FileFormat::of_path(&path), Some(FileFormat::JsonLines));
        let content = read_lines(&path).unwrap();
        assert!(content.partial_tail.is_none() && content.invalid_utf8.is_empty());
        out.extend(content.lines.iter().map(|l| parse_line(l).unwrap()));
    }
    out
}

/// Every request of a protobuf series, in file order per signal; no file
/// may have a partial or invalid message, and each request is of the
/// file's signal.
fn read_protobuf(dir: &Path, signal: Signal) -> Vec<ExportRequest> {
    let mut out = Vec::new();
    for path in files(dir, signal).unwrap() {
        assert_eq!(
            FileFormat::of_path(&path),
            Some(FileFormat::Protobuf),
            "{}",
            path.display()
        );
        let content = read_messages(&path).unwrap();
        assert!(content.partial_tail.is_none(), "{}", path.display());
        assert!(content.invalid.is_empty(), "{:?}", content.invalid);
        assert!(content.requests.iter().all(|r| signal_of(r) == signal));
        out.extend(content.requests);
    }
    out
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Spans with every kind of attribute (hashed, redacted, NaN and the
/// infinities among them), events with consent and sampling, and every
/// kind of metric.
fn workload(t: &Telemetry) {
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
    let depth = t
        .up_down_counter("queue.depth", Category::PERFORMANCE)
        .build()
        .unwrap();
    let temperature = t
        .gauge("temperature", Category::PERFORMANCE)
        .unit("Cel")
        .build()
        .unwrap();
    let latency = t
        .histogram("latency", Category::PERFORMANCE)
        .unit("ms")
        .boundaries(vec![1.0, 10.0, 100.0])
        .build()
        .unwrap();
    for i in 0..120u64 {
        let _s = t.subject("ada");
        t.in_span("checkout \"quoted\"\n", Category::PERFORMANCE, |span| {
            span.set_attribute("i", i);
            span.set_attribute("neg", -(i as i64));
            span.set_attribute("big", u64::MAX);
            span.set_attribute("ratio", i as f64 / 7.0);
            span.set_attribute("nan", f64::NAN);
            span.set_attribute("inf", f64::INFINITY);
            span.set_attribute("text", "tab\there é \u{1}");
            span.record("email", FieldClass::Hashed, "ada@example.com");
            span.record("card", FieldClass::Redacted, "4242");
            span.add_event("step", &[("n", Value::U64(i))]);
            t.in_span("db", Category::PERFORMANCE, |db| {
                if i % 9 == 0 {
                    db.set_error_description("Timeout");
                } else {
                    db.set_ok();
                }
            });
            t.event("cart.viewed", Category::BUSINESS)
                .public("items", i)
                .hashed("email", "ada@example.com")
                .redacted("address")
                .emit();
            orders.add(1, &[("currency", Value::Str("EUR"))]);
            depth.add(if i % 2 == 0 { 1 } else { -1 }, &[]);
            temperature.record(20.0 + i as f64 / 10.0, &[]);
            latency.record(i as f64, &[]);
        });
        if i % 30 == 0 {
            t.event("failure", Category::ERRORS)
                .body("static message")
                .public("code", "E42")
                .emit();
            t.force_flush().unwrap();
        }
    }
    t.consent().revoke("bea", Category::BUSINESS).unwrap();
}

/// The same records through one pipeline into a JSON-lines exporter and a
/// protobuf exporter: the protobuf files hold the same requests, in the
/// same order, as the JSON lines (NaN and the infinities included), and
/// take fewer bytes.
#[test]
fn protobuf_files_hold_the_same_requests_as_json_lines() {
    let (json_dir, pb_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let json = FileExporter::builder(json_dir.path())
        .max_file_bytes(16 * 1024)
        .max_files(10_000)
        .build()
        .unwrap();
    let pb = protobuf(pb_dir.path())
        .max_file_bytes(8 * 1024)
        .max_files(10_000)
        .fsync(Fsync::EveryBatch)
        .build()
        .unwrap();
    let (json_stats, pb_stats) = (json.stats(), pb.stats());
    let t = builder()
        .exporter(json)
        .exporter(pb)
        .batch_size(16)
        .build()
        .unwrap();
    workload(&t);
    assert!(t.shutdown(Duration::from_secs(20)).is_complete());
    let drops = t.drops();
    assert_eq!(
        drops.total(),
        drops.by_cause(DropCause::Sampling),
        "{drops:?}"
    );

    for signal in Signal::ALL {
        let from_json = read_json(json_dir.path(), signal);
        let from_pb = read_protobuf(pb_dir.path(), signal);
        assert!(!from_pb.is_empty(), "no {signal:?} requests");
        assert_eq!(from_pb.len(), from_json.len(), "{signal:?}");
        for (p, j) in from_pb.iter().zip(&from_json) {
            // Debug, not ==: NaN is not equal to itself.
            assert_eq!(format!("{p:?}"), format!("{j:?}"), "{signal:?}");
        }
    }
    // The doubles that JSON writes as strings are doubles in protobuf.
    let traces = read_protobuf(pb_dir.path(), Signal::Traces);
    let ExportRequest::Traces(first) = &traces[0] else {
        panic!()
    };
    let span = first.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .find(|s| s.name.starts_with("checkout"))
        .unwrap();
    assert!(matches!(
        attr(&span.attributes, "nan"),
        Some(any_value::Value::DoubleValue(d)) if d.is_nan()
    ));
    assert_eq!(
        attr(&span.attributes, "inf"),
        Some(&any_value::Value::DoubleValue(f64::INFINITY))
    );
    assert_eq!(
        attr(&span.attributes, "big"),
        Some(&any_value::Value::StringValue(u64::MAX.to_string()))
    );
    // Rotation by size, counters, and the bytes on disk.
    assert!(files(pb_dir.path(), Signal::Traces).unwrap().len() > 2);
    assert!(pb_stats.rotations() > 0);
    assert_eq!(pb_stats.lines_written(), json_stats.lines_written());
    assert_eq!(pb_stats.bytes_written(), dir_bytes(pb_dir.path()));
    assert!(
        pb_stats.bytes_written() < json_stats.bytes_written() / 2,
        "protobuf {} bytes, JSON {}",
        pb_stats.bytes_written(),
        json_stats.bytes_written()
    );
    for entry in std::fs::read_dir(pb_dir.path()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name.starts_with("telemetry-") && name.ends_with(".otlp.pb"),
            "{name}"
        );
        let bytes = std::fs::read(pb_dir.path().join(&name)).unwrap();
        assert!(
            !bytes.windows(15).any(|w| w == b"ada@example.com"),
            "raw value in {name}"
        );
    }
}

/// Rotated protobuf files are gzipped; every event reads back from the
/// compressed and plain files alike; a plain file beside its compressed
/// copy is listed once; a corrupt `.gz` is an error.
#[test]
fn rotated_protobuf_files_are_compressed_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let listed = crate::file::compressed_rotation_burst(dir.path(), FileFormat::Protobuf);
    assert!(
        listed
            .iter()
            .all(|p| FileFormat::of_path(p) == Some(FileFormat::Protobuf))
    );
    let mut seen = BTreeSet::new();
    for request in read_protobuf(dir.path(), Signal::Logs) {
        let ExportRequest::Logs(logs) = request else {
            panic!()
        };
        for r in logs
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            if let Some(any_value::Value::IntValue(i)) = attr(&r.attributes, "i") {
                assert!(seen.insert(*i), "duplicate {i}");
            }
        }
    }
    assert_eq!(seen.len(), 300);
    // A plain file left beside its complete compressed copy (a crash
    // between the rename and the removal) is not listed twice.
    let gz = &listed[0];
    let plain = gz.with_extension("");
    assert!(plain.to_string_lossy().ends_with(".otlp.pb"));
    std::fs::write(&plain, b"").unwrap();
    assert_eq!(files(dir.path(), Signal::Logs).unwrap(), listed);
    // A corrupt compressed file is an error, not a panic.
    std::fs::write(gz, b"\x1f\x8b not really gzip").unwrap();
    assert!(read_messages(gz).is_err());
}

/// One directory, both formats under the same prefix: `files` lists every
/// file once, and `FileFormat::of_path` tells them apart.
#[test]
fn files_lists_both_formats_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    for format in [FileFormat::JsonLines, FileFormat::Protobuf] {
        let t = builder()
            .batch_size(1)
            .exporter(
                FileExporter::builder(dir.path())
                    .format(format)
                    .max_file_bytes(1024)
                    .max_files(10_000)
                    .compress_rotated(true)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        for i in 0..40u64 {
            t.event("e", Category::PERFORMANCE).public("i", i).emit();
            t.force_flush().unwrap();
        }
        t.shutdown(Duration::from_secs(10));
    }
    let listed = files(dir.path(), Signal::Logs).unwrap();
    let unique: BTreeSet<&PathBuf> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "{listed:?}");
    let on_disk = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(listed.len(), on_disk, "every file listed");
    let mut counts = [0usize; 4];
    let mut seen = BTreeSet::new();
    for path in &listed {
        let name = path.to_string_lossy();
        let gz = name.ends_with(".gz");
        let requests = match FileFormat::of_path(path) {
            Some(FileFormat::JsonLines) => {
                counts[usize::from(gz)] += 1;
                read_lines(path)
                    .unwrap()
                    .lines
                    .iter()
                    .map(|l| parse_line(l).unwrap())
                    .collect::<Vec<_>>()
            }
            Some(FileFormat::Protobuf) => {
                counts[2 + usize::from(gz)] += 1;
                read_messages(path).unwrap().requests
            }
            other => panic!("{name}: {other:?}"),
        };
        for request in requests {
            let ExportRequest::Logs(logs) = request else {
                panic!()
            };
            for r in &logs.resource_logs[0].scope_logs[0].log_records {
                if let Some(any_value::Value::IntValue(i)) = attr(&r.attributes, "i") {
                    seen.insert((
                        matches!(FileFormat::of_path(path), Some(FileFormat::Protobuf)),
                        *i,
                    ));
                }
            }
        }
    }
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    // read_messages refuses a JSON-lines file rather than misreading it.
    let json = listed
        .iter()
        .find(|p| FileFormat::of_path(p) == Some(FileFormat::JsonLines))
        .unwrap();
    let err = read_messages(json).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert_eq!(seen.len(), 80, "40 events in each format");
    assert_eq!(
        FileFormat::of_path(Path::new("a.jsonl.gz")),
        Some(FileFormat::JsonLines)
    );
    assert_eq!(
        FileFormat::of_path(Path::new("a.otlp.pb")),
        Some(FileFormat::Protobuf)
    );
    assert_eq!(FileFormat::of_path(Path::new("a.pb")), None);
    assert_eq!(FileFormat::of_path(Path::new("a.gz")), None);
}

/// A protobuf file of three messages, of three log records each.
fn three_messages(dir: &Path) -> PathBuf {
    let t = builder()
        .exporter(protobuf(dir).build().unwrap())
        .build()
        .unwrap();
    for round in 0..3u64 {
        for i in 0..3u64 {
            t.event("e", Category::PERFORMANCE)
                .public("round", round)
                .public("i", i)
                .emit();
        }
        t.force_flush().unwrap();
    }
    t.shutdown(Duration::from_secs(5));
    let listed = files(dir, Signal::Logs).unwrap();
    assert_eq!(listed.len(), 1);
    listed.into_iter().next().unwrap()
}

/// A message cut short at any byte (a writer killed mid-write) is
/// reported apart as the partial tail; the messages before it read back.
#[test]
fn a_torn_last_message_is_reported_apart_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_messages(dir.path());
    let full = std::fs::read(&path).unwrap();
    let whole = read_messages(&path).unwrap();
    assert_eq!(whole.requests.len(), 3);
    assert!(whole.partial_tail.is_none() && whole.invalid.is_empty());
    // Where the last message starts: the first two, re-encoded, end there.
    let two: Vec<u8> = whole.requests[..2]
        .iter()
        .flat_map(|r| {
            use prost::Message;
            let ExportRequest::Logs(l) = r else { panic!() };
            l.encode_length_delimited_to_vec()
        })
        .collect();
    assert_eq!(&full[..two.len()], &two[..], "the file is the messages");
    let torn = dir
        .path()
        .join("telemetry-logs-20260101T000000.000000Z-000009.otlp.pb");
    for cut in two.len()..full.len() {
        std::fs::write(&torn, &full[..cut]).unwrap();
        let content = read_messages(&torn).unwrap();
        assert_eq!(content.requests, whole.requests[..2], "cut at {cut}");
        assert!(content.invalid.is_empty(), "cut at {cut}");
        if cut == two.len() {
            assert_eq!(content.partial_tail, None);
        } else {
            assert_eq!(
                content.partial_tail.as_deref(),
                Some(&full[two.len()..cut]),
                "cut at {cut}"
            );
        }
    }
    // Torn inside the first message: nothing but the tail.
    std::fs::write(&torn, &full[..1]).unwrap();
    let content = read_messages(&torn).unwrap();
    assert!(content.requests.is_empty());
    assert_eq!(content.partial_tail.as_deref(), Some(&full[..1]));
    // An empty file is no request and no tail.
    std::fs::write(&torn, b"").unwrap();
    let content = read_messages(&torn).unwrap();
    assert!(content.requests.is_empty() && content.partial_tail.is_none());
}

/// A length prefix above the 64 MiB cap, or longer than such a length
/// needs, is an error naming the cap, read without allocating for it; one
/// at the cap with too few bytes after it is a torn tail.
#[test]
fn an_oversized_length_prefix_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(three_messages(dir.path())).unwrap();
    let path = dir
        .path()
        .join("telemetry-traces-20260101T000000.000000Z-000001.otlp.pb");
    let varint = |mut v: u64| {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    };
    let over = MAX_MESSAGE_BYTES as u64 + 1;
    for prefix in [
        varint(over),
        varint(u64::MAX),
        varint(u32::MAX.into()),
        vec![0xff; 10],
        vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x00], // 0, padded past 5 bytes
    ] {
        let mut bytes = good.clone();
        bytes.extend_from_slice(&prefix);
        bytes.extend_from_slice(b"some bytes after");
        std::fs::write(&path, &bytes).unwrap();
        let err = read_messages_as(&path, Signal::Logs).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("message 4") && text.contains(&MAX_MESSAGE_BYTES.to_string()),
            "{text}"
        );
        // The same in a compressed file.
        let gz = dir
            .path()
            .join("telemetry-logs-20260101T000000.000000Z-000002.otlp.pb.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        encoder.write_all(&bytes).unwrap();
        encoder.finish().unwrap();
        assert_eq!(
            read_messages(&gz).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }
    // At the cap exactly, with the bytes missing: a message cut short.
    let mut bytes = good.clone();
    let at_cap = varint(MAX_MESSAGE_BYTES as u64);
    bytes.extend_from_slice(&at_cap);
    bytes.extend_from_slice(b"cut short");
    std::fs::write(&path, &bytes).unwrap();
    let content = read_messages_as(&path, Signal::Logs).unwrap();
    assert_eq!(content.requests.len(), 3);
    assert_eq!(content.partial_tail.unwrap().len(), at_cap.len() + 9);
}

/// A complete message that does not decode as the file's request type is
/// reported with its position; the messages around it read as usual.
#[test]
fn a_message_that_does_not_decode_is_reported_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(three_messages(dir.path())).unwrap();
    let first = read_messages_as(&dir.path().join("x"), Signal::Logs);
    assert!(first.is_err(), "no such file");
    let listed = files(dir.path(), Signal::Logs).unwrap();
    let ExportRequest::Logs(first) = &read_messages(&listed[0]).unwrap().requests[0] else {
        panic!()
    };
    let first_len = prost::Message::encode_length_delimited_to_vec(first).len();
    // Field 1, length-delimited, with a length running past the message.
    let garbage: &[u8] = &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff];
    let mut bytes = good[..first_len].to_vec();
    bytes.push(6);
    bytes.extend_from_slice(garbage);
    bytes.extend_from_slice(&good[first_len..]);
    let path = dir.path().join("renamed.bin");
    std::fs::write(&path, &bytes).unwrap();
    let content = read_messages_as(&path, Signal::Logs).unwrap();
    assert_eq!(content.requests.len(), 3);
    assert_eq!(content.invalid.len(), 1);
    let bad = &content.invalid[0];
    assert_eq!((bad.number, bad.offset), (2, first_len as u64));
    assert_eq!(bad.bytes, garbage);
    assert!(bad.to_string().contains("message 2"), "{bad}");
    assert!(content.partial_tail.is_none());
    // The signal comes from the name: a renamed file needs read_messages_as.
    let err = read_messages(&path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

/// Injected write failures (a full disk) drop and count the batches, leave
/// no partial message behind, and writing resumes.
#[test]
fn a_failed_write_leaves_no_partial_message_and_writing_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(false));
    let exporter = protobuf(dir.path())
        .inject_write_failures(fail.clone())
        .build()
        .unwrap();
    let stats = exporter.stats();
    let t = builder().exporter(exporter).build().unwrap();
    for round in 0..6u64 {
        fail.store(round % 2 == 1, Ordering::SeqCst);
        t.event("e", Category::PERFORMANCE)
            .public("round", round)
            .emit();
        let _ = t.force_flush();
    }
    fail.store(false, Ordering::SeqCst);
    t.shutdown(Duration::from_secs(5));
    // At least the three batches of events (the pipeline's own records may
    // fail with them).
    assert!(stats.failed_no_space() >= 3, "{}", stats.failed_no_space());
    let written: usize = Signal::ALL
        .into_iter()
        .map(|s| read_protobuf(dir.path(), s).len())
        .sum();
    assert_eq!(written as u64, stats.lines_written());
    let requests = read_protobuf(dir.path(), Signal::Logs);
    let rounds: Vec<i64> = requests
        .iter()
        .flat_map(|r| match r {
            ExportRequest::Logs(l) => l.resource_logs[0].scope_logs[0].log_records.clone(),
            _ => panic!(),
        })
        .filter_map(|r| match attr(&r.attributes, "round") {
            Some(any_value::Value::IntValue(i)) => Some(*i),
            _ => None,
        })
        .collect();
    assert_eq!(rounds, [0, 2, 4]);
}

/// Set in the child process of the SIGKILL test: the directory to write to.
const CHILD_DIR: &str = "FILE_PROTOBUF_KILLED_WRITER_DIR";

/// The writer the SIGKILL test kills: runs only in its child process
/// (a no-op test otherwise). Writes until killed.
#[test]
fn killed_writer_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let t = builder()
        .batch_size(64)
        .flush_interval(Duration::from_millis(1))
        .exporter(
            protobuf(Path::new(&dir))
                .fsync(Fsync::Never)
                .max_file_bytes(256 * 1024)
                .max_files(10_000)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    let mut i = 0u64;
    while started.elapsed() < Duration::from_secs(60) {
        t.event("e", Category::PERFORMANCE)
            .public("i", i)
            .public("route", "/checkout/payment")
            .emit();
        i += 1;
    }
}

/// A writer killed with SIGKILL while writing leaves files whose every
/// complete message decodes; at most the last message of the last file is
/// torn, and it is reported apart.
#[test]
fn a_writer_killed_mid_stream_leaves_a_readable_file() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "file_protobuf::killed_writer_child",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while dir_bytes(dir.path()) < 600 * 1024 {
            assert!(
                started.elapsed() < Duration::from_secs(50),
                "the child wrote too little"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
        let listed = files(dir.path(), Signal::Logs).unwrap();
        assert!(listed.len() > 1, "{listed:?}");
        let mut records = 0;
        for (n, path) in listed.iter().enumerate() {
            let content = read_messages(path).unwrap();
            assert!(content.invalid.is_empty(), "{:?}", content.invalid);
            if n + 1 < listed.len() {
                assert!(content.partial_tail.is_none(), "a rotated file is whole");
            }
            for r in &content.requests {
                let ExportRequest::Logs(l) = r else { panic!() };
                records += l.resource_logs[0].scope_logs[0].log_records.len();
            }
        }
        assert!(records > 1_000, "{records} records");
    }
}

/// A real file's bytes, to mutate.
fn sample_file() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::read(three_messages(dir.path())).unwrap()
    })
}

proptest! {
    /// `read_messages` returns (never panics) on any bytes, and on a real
    /// file cut short or with a byte changed; whatever it returns as
    /// requests re-encodes within the input's size.
    #[test]
    fn read_messages_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        signal in 0usize..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.otlp.pb");
        let signal = Signal::ALL[signal];
        let real = sample_file();
        let mut changed = real.to_vec();
        changed[at.index(real.len())] = byte;
        for input in [&bytes[..], &real[..cut.index(real.len())], &changed[..]] {
            std::fs::write(&path, input).unwrap();
            if let Ok(content) = read_messages_as(&path, signal) {
                let tail = content.partial_tail.map_or(0, |t| t.len());
                let invalid: usize = content.invalid.iter().map(|m| m.bytes.len()).sum();
                prop_assert!(tail + invalid <= input.len());
            }
        }
    }
}
