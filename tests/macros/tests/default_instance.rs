//! The macros without a global instance: a test's own instance set as the
//! thread's default receives the calls; calls that find no instance are
//! counted; a service that sets no consent policy still records its
//! non-personal data, anonymously.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;

#[instrument_event(name = "default.work", fields(n))]
fn work(n: u64) -> u64 {
    n + 1
}

fn instance() -> (Telemetry, InMemoryExporter) {
    let exporter = InMemoryExporter::new();
    let t = Telemetry::builder()
        .service("default-instance-tests", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .exporter(exporter.clone())
        .build()
        .unwrap();
    (t, exporter)
}

fn calls(exporter: &InMemoryExporter) -> usize {
    exporter
        .spans()
        .iter()
        .filter(|s| s.name == "default.work")
        .count()
}

#[test]
fn each_test_records_into_its_own_instance() {
    let (a, a_exp) = instance();
    let (b, b_exp) = instance();
    {
        let _default = a.set_default();
        work(1);
        {
            let _inner = b.set_default();
            work(2);
            work(3);
        }
        work(4);
    }
    a.force_flush().unwrap();
    b.force_flush().unwrap();
    assert_eq!(calls(&a_exp), 2);
    assert_eq!(calls(&b_exp), 2);
    // The call counter of each instance counts its own calls.
    assert_eq!(
        a_exp.sum_value(
            "function.calls",
            &[("function", "default.work"), ("outcome", "ok")]
        ),
        Some(2)
    );
    assert_eq!(
        b_exp.sum_value(
            "function.calls",
            &[("function", "default.work"), ("outcome", "ok")]
        ),
        Some(2)
    );
}

#[test]
fn calls_without_an_instance_are_counted() {
    // No default here and nothing installed in this test binary.
    assert_eq!(work(9), 10, "the function still runs");
    let (t, exp) = instance();
    t.force_flush().unwrap();
    let without = exp
        .sum_value("telemetry.calls.without_instance", &[])
        .unwrap_or(0);
    assert!(without >= 1, "{without}");
}

#[test]
fn a_service_without_a_policy_records_non_personal_data_anonymously() {
    let (t, exp) = instance();
    let _default = t.set_default();
    {
        let _s = t.subject("user-1");
        work(5);
        t.event("page.viewed", Category::INTERACTION).emit();
    }
    t.force_flush().unwrap();
    let spans = exp.spans();
    let span = spans
        .iter()
        .find(|s| s.name == "default.work")
        .expect("recorded");
    assert_eq!(span.subject, None, "performance is exempt, so anonymous");
    assert!(
        exp.events_named("page.viewed").is_empty(),
        "interaction is opt-in by default"
    );
}

/// Run as a child process by the test below: calls an instrumented
/// function three times with no instance anywhere.
#[test]
fn hint_child_calls_without_an_instance() {
    if std::env::var_os("TELEMETRY_HINT_CHILD").is_none() {
        return;
    }
    for n in 0..3 {
        assert_eq!(work(n), n + 1);
    }
}

#[test]
fn the_first_call_without_an_instance_prints_one_hint() {
    // A process of its own: the hint is printed once per process, and
    // another test of this binary may have printed it already.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hint_child_calls_without_an_instance",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TELEMETRY_HINT_CHILD", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hints = stderr.matches("ran before any telemetry instance").count();
    assert_eq!(hints, 1, "one hint for three calls:\n{stderr}");
    assert!(
        stderr.contains("`default.work`"),
        "it names the function:\n{stderr}"
    );
    assert!(
        stderr.contains(".install()"),
        "it says what to do:\n{stderr}"
    );
}
