//! The generated monitoring against the real programs: two processes of
//! the example service (sharing consent through a real PostgreSQL,
//! exporting to a real collector) scraped by a real Prometheus with
//! exemplar storage; the generated rules checked and unit-tested by
//! promtool; every dashboard query sent to Prometheus; consent visible in
//! the scraped series; and one alert end to end: the collector stops, the
//! export-failure alert fires and Alertmanager delivers it to a webhook.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::{Value, json};
use telemetry_dashboards::{Options, panel_queries, select_all_variables, substitute};
use telemetry_tests::Collector;
use telemetry_tests::postgres::Postgres;
use telemetry_tests::prometheus::{
    Alertmanager, Prometheus, PrometheusConfig, WebhookReceiver, promtool_check_metrics,
    promtool_check_rules, promtool_test_rules,
};

const WAIT: Duration = Duration::from_secs(60);

fn replica(name: &str, collector: &Collector, pg: &Postgres, downstream: Option<&str>) -> Instance {
    Instance::start_with(
        name,
        &collector.http_url(),
        downstream,
        &[],
        &[("CONSENT_STORE_URL", pg.url.as_str())],
    )
}

fn checkout(frontend: &str, user: &str, quantity: u64) -> u16 {
    send(
        "POST",
        &format!("{frontend}/checkout"),
        &format!("token-{user}"),
        Some(
            json!({ "sku": "sku-1", "quantity": quantity, "email": format!("{user}@example.com") }),
        ),
    )
}

/// The one number of an instant query's result (summed over series).
fn value(prom: &Prometheus, q: &str) -> f64 {
    prom.query(q)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"][1].as_str().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn scrape_text(url: &str) -> String {
    agent()
        .get(format!("{url}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

#[test]
fn prometheus_dashboards_and_alerts_work_on_a_scraped_fleet() {
    // The service's own generated monitoring: rules valid, and every
    // alert fires on bad series and stays silent on healthy ones.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_web-service"))
        .args(["--write-monitoring"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rules = dir.path().join("rules/telemetry-rules.yml");
    promtool_check_rules(&rules).unwrap();
    promtool_test_rules(dir.path().join("rules/telemetry-rules.test.yml")).unwrap();
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    assert!(
        rules_text.contains("function=\"shop.checkout\"")
            && rules_text.contains("FunctionErrorBudgetBurn"),
        "the objective on shop.checkout has its burn-rate alerts"
    );
    // The health alerts again, with windows short enough to fire here.
    let fast_rules = dir.path().join("fast-health.yml");
    std::fs::write(
        &fast_rules,
        telemetry_dashboards::rules_yaml(&[], &Options::for_tests()),
    )
    .unwrap();

    let pg = Postgres::start().expect("PostgreSQL");
    let collector = Collector::start().expect("collector");
    let inventory = replica("inventory", &collector, &pg, None);
    let frontend = replica("frontend", &collector, &pg, Some(&inventory.url));
    let f = frontend.url.clone();
    let hook = WebhookReceiver::start().unwrap();
    let am = Alertmanager::start(&hook.url()).unwrap();
    let prom = Prometheus::start(
        PrometheusConfig::default()
            .scrape(
                "frontend",
                frontend.url.trim_start_matches("http://"),
                "/metrics",
            )
            .scrape(
                "inventory",
                inventory.url.trim_start_matches("http://"),
                "/metrics",
            )
            .exemplar_storage(true)
            .rule_file(&fast_rules)
            .alertmanager(&am.address()),
    )
    .unwrap();

    // A scripted run: alice allows business data, bob does not; carol
    // grants and revokes (a deletion request); one order is out of stock
    // (an error); a peer sends a malformed traceparent.
    assert_eq!(
        send(
            "POST",
            &format!("{f}/consent/business"),
            "token-alice",
            None
        ),
        200
    );
    assert_eq!(
        send(
            "POST",
            &format!("{f}/consent/business"),
            "token-carol",
            None
        ),
        200
    );
    assert_eq!(
        send(
            "DELETE",
            &format!("{f}/consent/business"),
            "token-carol",
            None
        ),
        200
    );
    for _ in 0..5 {
        assert_eq!(checkout(&f, "alice", 1), 200);
    }
    for _ in 0..3 {
        assert_eq!(checkout(&f, "bob", 1), 200);
    }
    assert_eq!(checkout(&f, "alice", 20), 409, "out of stock");
    let status = agent()
        .post(format!("{}/reserve", inventory.url))
        .header("Authorization", format!("Bearer {TEST_SERVICE_TOKEN}"))
        .header("traceparent", "00-not-a-trace-01")
        .send_json(json!({ "sku": "sku-1", "quantity": 1 }))
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 200);

    // What the endpoint serves passes promtool's checks, but for one lint
    // on two OpenTelemetry semantic-convention names (`process.thread.count`
    // and `process.unix.file_descriptor.count` become `…_count` gauges,
    // exactly as a Collector's Prometheus exporter names them: kept, so a
    // dashboard reads the same series either way).
    for url in [&f, &inventory.url] {
        let exposition = scrape_text(url);
        assert!(exposition.contains("function_calls_total{"), "{exposition}");
        if let Err(report) = promtool_check_metrics(&exposition) {
            let allowed = [
                "process_thread_count non-histogram and non-summary metrics should not have \"_count\" suffix",
                "process_unix_file_descriptor_count non-histogram and non-summary metrics should not have \"_count\" suffix",
            ];
            let problems: Vec<&str> = report
                .lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty() && !allowed.contains(&l.trim()))
                .collect();
            assert!(
                report.contains("exit status: 3") && problems.is_empty(),
                "promtool check metrics: {report}"
            );
        }
    }

    prom.wait_for("every checkout is scraped", WAIT, |p| {
        let n: f64 = p
            .query("sum(function_calls_total{function=\"shop.checkout\"})")?
            .as_array()
            .and_then(|a| a.first())
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Ok((n >= 9.0).then_some(()))
    })
    .unwrap();

    // Consent holds in the scraped series: the business function counted
    // alice's five orders, not bob's three (nor the out-of-stock one,
    // which never priced).
    assert_eq!(
        value(
            &prom,
            "sum(function_calls_total{function=\"shop.price\",telemetry_category=\"business\"})"
        ),
        5.0
    );
    assert_eq!(
        value(
            &prom,
            "sum(function_calls_total{function=\"shop.checkout\",outcome=\"error\"})"
        ),
        1.0
    );
    // No series anywhere carries a user's id or pseudonym.
    let all = prom.query("{job=~\"frontend|inventory\"}").unwrap();
    let forbidden: Vec<String> = ["alice", "bob", "carol"]
        .into_iter()
        .flat_map(|u| [u.to_owned(), subject_key(u)])
        .collect();
    let all_text = all.to_string();
    assert!(all.as_array().unwrap().len() > 50, "{all_text}");
    for f in &forbidden {
        assert!(!all_text.contains(f.as_str()), "{f} in a scraped series");
    }

    // Exemplars: a latency sample links to a trace the collector received.
    let exemplar_traces: BTreeSet<String> = prom
        .wait_for("exemplars of shop.checkout", WAIT, |p| {
            let start = SystemTime::now() - Duration::from_secs(600);
            let found = p.query_exemplars(
                "function_duration_seconds_bucket{function=\"shop.checkout\"}",
                start,
                SystemTime::now(),
            )?;
            let ids: BTreeSet<String> = found
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
                .collect();
            Ok((!ids.is_empty()).then_some(ids))
        })
        .unwrap();
    let exported = || -> BTreeSet<String> {
        seen(&collector)
            .spans
            .iter()
            .filter(|s| s.name == "shop.checkout")
            .map(|s| s.trace.iter().map(|b| format!("{b:02x}")).collect())
            .collect()
    };
    assert!(
        collector.wait_for(WAIT, |_| exemplar_traces
            .iter()
            .any(|t| exported().contains(t))),
        "an exemplar's trace id is one the collector received: {exemplar_traces:?}"
    );

    // Every dashboard query returns data (those comparing with an hour or
    // a day ago only evaluate: this run is minutes long).
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path().join("dashboards")).unwrap() {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let vars = select_all_variables(&dashboard);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for (title, expr) in panel_queries(&dashboard) {
            let q = substitute(&expr, &vars);
            let history = q.contains("offset") || q.contains("[1d]") || q.contains("[1h]");
            if history {
                prom.query(&q)
                    .unwrap_or_else(|e| panic!("{title}: {q}: {e}"));
            } else {
                prom.wait_query_nonempty(&q, WAIT)
                    .unwrap_or_else(|e| panic!("panel {title:?} has no data: {q}: {e}"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} queries");

    // One alert end to end: the collector goes away, exports fail, the
    // alert fires in Prometheus and reaches the webhook via Alertmanager.
    drop(collector);
    for _ in 0..3 {
        checkout(&f, "alice", 1);
    }
    let alert = hook
        .wait_for_alert("TelemetryExportFailing", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}\nPrometheus alerts: {:?}", prom.alerts()));
    assert_eq!(alert["status"], "firing");
    assert!(
        ["frontend", "inventory"].contains(&alert["labels"]["job"].as_str().unwrap_or("")),
        "{alert}"
    );
}
