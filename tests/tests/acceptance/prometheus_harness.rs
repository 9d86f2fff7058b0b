//! The Prometheus/Alertmanager harness (`telemetry_tests::prometheus`)
//! against the real programs: Prometheus scrapes itself, fires an alert,
//! Alertmanager delivers it to the webhook; promtool tells a valid
//! exposition from invalid ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, SystemTime};

use telemetry_tests::free_port;
use telemetry_tests::prometheus::{
    Alertmanager, Prometheus, PrometheusConfig, WebhookReceiver, promtool_check_metrics,
    promtool_check_rules, promtool_test_rules,
};

const RULES: &str = "\
groups:
  - name: harness
    rules:
      - alert: HarnessAlwaysFires
        expr: vector(1)
        for: 0s
        labels:
          severity: none
        annotations:
          summary: the harness test alert
";

#[test]
fn prometheus_scrapes_itself_and_an_alert_reaches_the_webhook() {
    let hook = WebhookReceiver::start().unwrap();
    let am = Alertmanager::start(&hook.url()).unwrap();
    // Prometheus scrapes itself: the configuration needs its port first.
    let port = free_port();
    let prom = Prometheus::start(
        PrometheusConfig::default()
            .port(port)
            .scrape("prometheus", &format!("127.0.0.1:{port}"), "/metrics")
            .rules_yaml(RULES)
            .alertmanager(&am.address()),
    )
    .unwrap();
    assert_eq!(prom.url(), format!("http://127.0.0.1:{port}"));

    let up = prom
        .wait_query_nonempty("up{job=\"prometheus\"}", Duration::from_secs(30))
        .unwrap();
    assert_eq!(up[0]["metric"]["instance"], format!("127.0.0.1:{port}"));
    assert_eq!(up[0]["value"][1], "1");
    let up = prom.query("up").unwrap();
    assert!(!up.as_array().unwrap().is_empty(), "{up}");
    let targets = prom.wait_targets_up(Duration::from_secs(30)).unwrap();
    assert_eq!(targets[0]["labels"]["job"], "prometheus");

    let alert = prom
        .wait_alert_firing("HarnessAlwaysFires", Duration::from_secs(30))
        .unwrap();
    assert_eq!(alert["labels"]["severity"], "none");
    let alerts = prom.alerts().unwrap();
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "HarnessAlwaysFires"),
        "{alerts}"
    );

    let delivered = hook
        .wait_for_alert("HarnessAlwaysFires", Duration::from_secs(60))
        .unwrap();
    assert_eq!(delivered["labels"]["severity"], "none");
    assert_eq!(
        delivered["annotations"]["summary"],
        "the harness test alert"
    );
    let held = am.alerts().unwrap();
    assert!(
        held.as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "HarnessAlwaysFires"),
        "{held}"
    );

    // A bad query is an error carrying Prometheus's message.
    let err = prom.query("sum(").unwrap_err();
    assert!(err.contains("bad_data"), "{err}");

    // Dropping stops both and removes their directories.
    let (prom_dir, am_dir) = (prom.dir().to_owned(), am.dir().to_owned());
    drop(prom);
    drop(am);
    assert!(!prom_dir.exists() && !am_dir.exists());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "Prometheus still listens on {port}"
    );
}

#[test]
fn a_prometheus_that_cannot_start_gives_its_log() {
    let err = Prometheus::start(
        PrometheusConfig::default()
            .rules_yaml("groups: [{name: x, rules: [{alert: A, expr: 'sum('}]}]"),
    )
    .unwrap_err();
    assert!(err.contains("exited during startup"), "{err}");
    assert!(err.contains("parse error"), "{err}");
}

/// Serves one OpenMetrics exposition with an exemplar to every request;
/// gives its address.
fn serve_openmetrics_with_an_exemplar() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // The request (a GET) ends with an empty line.
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let body = "\
# TYPE harness_requests counter
# HELP harness_requests Requests.
harness_requests_total{route=\"/a\"} 5 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 1.5
# EOF
";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    address
}

#[test]
fn prometheus_stores_exemplars_when_asked_to() {
    let app = serve_openmetrics_with_an_exemplar();
    let prom = Prometheus::start(
        PrometheusConfig::default()
            .scrape("app", &app, "/metrics")
            .exemplar_storage(true),
    )
    .unwrap();
    prom.wait_query_nonempty("harness_requests_total", Duration::from_secs(30))
        .unwrap();
    let exemplar = prom
        .wait_for("the exemplar", Duration::from_secs(30), |p| {
            let now = SystemTime::now();
            let series = p.query_exemplars(
                "harness_requests_total",
                now - Duration::from_secs(300),
                now + Duration::from_secs(60),
            )?;
            Ok(series[0]["exemplars"].get(0).cloned())
        })
        .unwrap();
    assert_eq!(
        exemplar["labels"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(exemplar["value"], "1.5");
}

#[test]
fn promtool_checks_expositions_and_rules() {
    let good = "\
# HELP requests_total Requests handled.
# TYPE requests_total counter
requests_total{code=\"200\"} 3
# HELP latency_seconds Request latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le=\"0.1\"} 1
latency_seconds_bucket{le=\"+Inf\"} 2
latency_seconds_sum 0.5
latency_seconds_count 2
";
    promtool_check_metrics(good).unwrap();

    // A lint problem (promtool exits 3): a counter without `_total`.
    let err =
        promtool_check_metrics("# HELP requests Requests.\n# TYPE requests counter\nrequests 3\n")
            .unwrap_err();
    assert!(
        err.contains("counter metrics should have \"_total\" suffix"),
        "{err}"
    );
    // A parse error (exit 1).
    let err = promtool_check_metrics("requests_total{code=\"200\" 3\n").unwrap_err();
    assert!(err.contains("parsing error"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let out = promtool_check_rules(&rules).unwrap();
    assert!(out.contains("SUCCESS: 1 rules found"), "{out}");
    let test = dir.path().join("test.yml");
    let unit = |severity: &str| {
        format!(
            "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    alert_rule_test:\n      - eval_time: 1m\n        alertname: HarnessAlwaysFires\n        exp_alerts:\n          - exp_labels: {{severity: {severity}}}\n            exp_annotations: {{summary: the harness test alert}}\n"
        )
    };
    std::fs::write(&test, unit("none")).unwrap();
    promtool_test_rules(&test).unwrap();
    std::fs::write(&test, unit("page")).unwrap();
    let err = promtool_test_rules(&test).unwrap_err();
    assert!(err.contains("FAILED"), "{err}");

    std::fs::write(
        &rules,
        "groups: [{name: x, rules: [{alert: A, expr: 'sum('}]}]\n",
    )
    .unwrap();
    let err = promtool_check_rules(&rules).unwrap_err();
    assert!(err.contains("parse error"), "{err}");
}
