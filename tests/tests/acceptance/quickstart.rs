//! The quickstart runs and its files are valid OTLP/JSON; with
//! `DO_NOT_TRACK=1` it writes no record of a consent-requiring category.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::Command;

use telemetry_core::export::Signal;
use telemetry_exporters::file::{ExportRequest, files, parse_line, read_lines};
use telemetry_exporters::opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};

fn run_quickstart(out: &Path, dnt: bool) -> String {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["run", "-q", "--example", "quickstart", "--"])
        .arg(out);
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    cmd.env_remove("DO_NOT_TRACK");
    if dnt {
        cmd.env("DO_NOT_TRACK", "1");
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "quickstart failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn category(attrs: &[KeyValue]) -> String {
    attrs
        .iter()
        .find(|kv| kv.key == "telemetry.category")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            any_value::Value::StringValue(s) => s.clone(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// (category of every span and log record, event names, metric names)
fn read(out: &Path) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut cats, mut events, mut metrics) = (Vec::new(), Vec::new(), Vec::new());
    for signal in Signal::ALL {
        let list = files(out, signal).unwrap();
        assert_eq!(list.len(), 1, "one {signal:?} file");
        for path in list {
            let content = read_lines(&path).unwrap();
            assert!(content.partial_tail.is_none());
            assert!(!content.lines.is_empty());
            for line in content.lines {
                match parse_line(&line).unwrap() {
                    ExportRequest::Traces(r) => {
                        for s in r
                            .resource_spans
                            .iter()
                            .flat_map(|r| &r.scope_spans)
                            .flat_map(|s| &s.spans)
                        {
                            cats.push(category(&s.attributes));
                        }
                    }
                    ExportRequest::Logs(r) => {
                        for l in r
                            .resource_logs
                            .iter()
                            .flat_map(|r| &r.scope_logs)
                            .flat_map(|s| &s.log_records)
                        {
                            cats.push(category(&l.attributes));
                            events.push(l.event_name.clone());
                        }
                    }
                    ExportRequest::Metrics(r) => {
                        for m in r
                            .resource_metrics
                            .iter()
                            .flat_map(|r| &r.scope_metrics)
                            .flat_map(|s| &s.metrics)
                        {
                            metrics.push(m.name.clone());
                        }
                    }
                }
            }
        }
    }
    (cats, events, metrics)
}

#[test]
fn quickstart_writes_valid_files_and_honours_do_not_track() {
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("normal");
    let stdout = run_quickstart(&normal, false);
    assert!(stdout.contains("records dropped, by cause"), "{stdout}");
    let (cats, events, metrics) = read(&normal);
    assert!(cats.iter().any(|c| c == "business"));
    assert!(cats.iter().any(|c| c == "interaction"));
    assert!(cats.iter().any(|c| c == "performance"));
    assert!(events.iter().any(|e| e == "checkout.purchase_completed"));
    assert!(
        events.iter().any(|e| e == "exception"),
        "the declined payment is an exception event"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "telemetry.consent.deletion_request")
            .count(),
        1
    );
    for m in [
        "checkout.orders",
        "checkout.latency",
        "telemetry.records.dropped",
        "telemetry.consent.subjects_allowing",
    ] {
        assert!(metrics.iter().any(|x| x == m), "missing metric {m}");
    }

    let dnt = dir.path().join("dnt");
    let stdout = run_quickstart(&dnt, true);
    assert!(stdout.contains("DO_NOT_TRACK is set"), "{stdout}");
    let (cats, _, _) = read(&dnt);
    assert!(!cats.is_empty());
    assert!(
        !cats.iter().any(|c| c == "business" || c == "interaction"),
        "{cats:?}"
    );
}

/// The summary's "records written" part of the quickstart's output.
fn written(stdout: &str) -> String {
    stdout
        .split("records written, by signal and category:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_second_run_into_the_same_directory_counts_only_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_quickstart(dir.path(), false);
    let second = run_quickstart(dir.path(), false);
    assert!(first.contains("(3 files)"), "{first}");
    assert!(second.contains("(3 files)"), "{second}");
    assert!(
        second.contains("(3 files of earlier runs in that directory are not counted)"),
        "{second}"
    );
    assert!(!written(&first).is_empty());
    assert_eq!(written(&first), written(&second), "the same run twice");
}
