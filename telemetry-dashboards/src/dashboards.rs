//! The three dashboards: the service overview (rate, errors and duration
//! of every instrumented function, objectives, business functions, HTTP
//! server, resources by instance), consent and privacy (coverage across
//! the fleet, grants, revocations, deletion requests), and telemetry
//! health (drops, export, the consent store, propagation). Range vectors
//! use `$__rate_interval`; `$job` and `$function` are multi-value
//! variables with "All".

use crate::grafana::{
    Board, Dashboard, dashboard, datasource_variable, job_variable, panel, query_variable, target,
};
use crate::input::{FunctionInfo, distinct};
use crate::options::Options;
use crate::promql::{self, duration, number, selector};

/// The range of every rate in the dashboards.
const RATE: &str = "$__rate_interval";
/// The `job` variable as a matcher.
const JOB: &str = "job=~\"$job\"";

fn m(matchers: &[&str]) -> Vec<String> {
    matchers.iter().map(|s| (*s).to_owned()).collect()
}

/// `sum by (by) (rate(metric{matchers}[$__rate_interval]))`.
fn rate(by: &str, metric: &str, matchers: &[String]) -> String {
    promql::sum_rate(by, &selector(metric, matchers), RATE)
}

fn overview(functions: &[FunctionInfo], options: &Options) -> Dashboard {
    let mut b = Board::default();
    let f = m(&[JOB, "function=~\"$function\""]);
    let calls = promql::FUNCTION_CALLS;
    b.row("Instrumented functions: rate, errors, duration");
    b.add(panel(
        "Calls per second by function",
        "Calls of every instrumented function, whatever their outcome.",
        "reqps",
        8,
        vec![target(rate("function", calls, &f), "{{function}}")],
    ));
    b.add(panel(
        "Error ratio by function",
        "Share of calls whose outcome is not ok (error, panic, cancelled).",
        "percentunit",
        8,
        vec![target(
            promql::error_ratio("function", &f, RATE),
            "{{function}}",
        )],
    ));
    b.add(panel(
        "Duration p50 / p95 / p99 by function",
        "Quantiles of the duration of sampled calls, from the histogram.",
        "s",
        8,
        [0.5, 0.95, 0.99]
            .iter()
            .map(|q| {
                target(
                    promql::quantile(*q, promql::FUNCTION_DURATION_BUCKET, "function", &f, RATE),
                    format!("p{} {{{{function}}}}", number(q * 100.0)),
                )
            })
            .collect(),
    ));
    b.add(panel(
        "Calls per second by outcome",
        "ok, error, panic or cancelled.",
        "reqps",
        12,
        vec![target(rate("outcome", calls, &f), "{{outcome}}")],
    ));
    let mut errors = f.clone();
    errors.push("outcome!=\"ok\"".to_owned());
    b.add(panel(
        "Errors per second by error type",
        "Calls that did not end ok, by function and error type.",
        "reqps",
        12,
        vec![target(
            rate("function, error_type", calls, &errors),
            "{{function}}: {{error_type}}",
        )],
    ));
    let objectives: Vec<&FunctionInfo> = distinct(functions)
        .into_iter()
        .filter(|f| f.error_budget().is_some() || f.latency_objective().is_some())
        .collect();
    if !objectives.is_empty() {
        b.row("Objectives");
    }
    for function in objectives {
        // Grafana would read a `$` of the name as a variable: PromQL
        // reads `\x24` as `$`.
        let name = promql::string(&function.name).replace('$', "\\x24");
        let fm = vec![JOB.to_owned(), format!("function={name}")];
        let mut targets = Vec::new();
        if let Some(budget) = function.error_budget() {
            targets.push(target(
                promql::error_ratio("function", &fm, RATE),
                "error ratio",
            ));
            targets.push(target(
                format!("vector({})", number(budget)),
                format!("error budget ({} %)", number(budget * 100.0)),
            ));
        }
        if let Some(l) = function.latency_objective() {
            targets.push(target(
                promql::slow_ratio("function", &fm, l.bound_seconds, RATE),
                format!("slower than {} ms", number(l.threshold_ms)),
            ));
            targets.push(target(
                format!("vector({})", number(l.budget)),
                format!("latency budget ({} %)", number(l.budget * 100.0)),
            ));
        }
        b.add(panel(
            format!("Objective of {}", function.name),
            "Bad-call ratios against the budgets of the function's objective: the burn-rate alerts fire when a ratio stays above its budget times the burn rate.",
            "percentunit",
            12,
            targets,
        ));
    }
    b.row("Business functions");
    let business = m(&[JOB, "telemetry_category=\"business\""]);
    b.add(panel(
        "Business function calls per second",
        "Calls of functions in the business category.",
        "reqps",
        12,
        vec![target(rate("function", calls, &business), "{{function}}")],
    ));
    b.add(panel(
        "Business function error ratio",
        "Share of calls of business functions that did not end ok.",
        "percentunit",
        12,
        vec![target(
            promql::error_ratio("function", &business, RATE),
            "{{function}}",
        )],
    ));
    b.row("HTTP server");
    let job = m(&[JOB]);
    let http = promql::HTTP_SERVER_COUNT;
    b.add(panel(
        "HTTP requests per second by route",
        "Requests served, by method and route template.",
        "reqps",
        12,
        vec![target(
            rate("http_request_method, http_route", http, &job),
            "{{http_request_method}} {{http_route}}",
        )],
    ));
    let server_errors = m(&[JOB, "http_response_status_code=~\"5..\""]);
    b.add(panel(
        "HTTP 5xx ratio by route",
        "Share of requests answered with a 5xx status.",
        "percentunit",
        12,
        vec![target(
            promql::ratio_or_zero(
                "http_route",
                &selector(http, &server_errors),
                &selector(http, &job),
                RATE,
            ),
            "{{http_route}}",
        )],
    ));
    b.add(panel(
        "HTTP request duration p50 / p95 / p99",
        "Quantiles of the server's request duration, from the histogram.",
        "s",
        12,
        [0.5, 0.95, 0.99]
            .iter()
            .map(|q| {
                target(
                    promql::quantile(*q, promql::HTTP_SERVER_BUCKET, "", &job, RATE),
                    format!("p{}", number(q * 100.0)),
                )
            })
            .collect(),
    ));
    b.add(panel(
        "HTTP responses per second by status code",
        "Requests by response status code and error type.",
        "reqps",
        12,
        vec![target(
            rate("http_response_status_code, error_type", http, &job),
            "{{http_response_status_code}} {{error_type}}",
        )],
    ));
    b.row("Resources by instance");
    let instance_gauge = |metric: &str| format!("sum by (instance) ({})", selector(metric, &job));
    b.add(panel(
        "CPU time (cores busy)",
        "CPU seconds used per second: 1 is one core fully busy.",
        "short",
        8,
        vec![target(
            rate("instance", "process_cpu_time_seconds_total", &job),
            "{{instance}}",
        )],
    ));
    b.add(panel(
        "CPU utilization",
        "The process's CPU utilization as it reports it.",
        "percentunit",
        8,
        vec![target(
            format!(
                "avg by (instance) ({})",
                selector("process_cpu_utilization_ratio", &job)
            ),
            "{{instance}}",
        )],
    ));
    b.add(panel(
        "Memory",
        "Resident and virtual memory of each process.",
        "bytes",
        8,
        vec![
            target(
                instance_gauge("process_memory_usage_bytes"),
                "{{instance}} resident",
            ),
            target(
                instance_gauge("process_memory_virtual_bytes"),
                "{{instance}} virtual",
            ),
        ],
    ));
    b.add(panel(
        "Threads",
        "Threads of each process.",
        "short",
        8,
        vec![target(
            instance_gauge("process_thread_count"),
            "{{instance}}",
        )],
    ));
    b.add(panel(
        "Open file descriptors",
        "File descriptors each process holds open.",
        "short",
        8,
        vec![target(
            instance_gauge("process_unix_file_descriptor_count"),
            "{{instance}}",
        )],
    ));
    b.add(panel(
        "Uptime",
        "Time since each process started.",
        "s",
        8,
        vec![target(
            format!(
                "max by (instance) ({})",
                selector("process_uptime_seconds", &job)
            ),
            "{{instance}}",
        )],
    ));
    dashboard(
        options,
        "overview",
        "service overview",
        "Rate, errors and duration of every instrumented function, their objectives, business functions, the HTTP server and resource use. Generated by telemetry-dashboards.",
        vec![
            datasource_variable(),
            job_variable(),
            query_variable(
                "function",
                "Function",
                "label_values(function_calls_total, function)",
            ),
        ],
        b,
    )
}

fn consent(options: &Options) -> Dashboard {
    let mut b = Board::default();
    let job = m(&[JOB]);
    let coverage = format!(
        "sum by (telemetry_category) ({})\n/ scalar(sum({}))",
        selector(promql::SUBJECTS_ALLOWING, &job),
        selector(promql::SUBJECTS_SEEN, &job)
    );
    let offset = duration(options.coverage_baseline_offset);
    b.row("Consent coverage across the fleet");
    b.add(panel(
        "Consent coverage per category",
        "Share of the subjects seen (summed over the replicas) that allow each category.",
        "percentunit",
        12,
        vec![target(coverage.clone(), "{{telemetry_category}}")],
    ));
    b.add(panel(
        format!("Consent coverage relative to {offset} ago"),
        "Coverage now over coverage then: TelemetryConsentCoverageDrop fires below its factor.",
        "percentunit",
        12,
        vec![target(
            format!(
                "(\n  {}\n)\n/\n(\n  {}\n)",
                promql::indent(&coverage, 2),
                promql::indent(
                    &format!(
                        "sum by (telemetry_category) ({} offset {offset})\n/ scalar(sum({} offset {offset}))",
                        selector(promql::SUBJECTS_ALLOWING, &job),
                        selector(promql::SUBJECTS_SEEN, &job)
                    ),
                    2
                )
            ),
            "{{telemetry_category}}",
        )],
    ));
    let mut seen = panel(
        "Subjects seen",
        "Subjects seen across the fleet.",
        "short",
        6,
        vec![target(
            format!("sum({})", selector(promql::SUBJECTS_SEEN, &job)),
            "subjects",
        )],
    );
    seen.stat = true;
    b.add(seen);
    b.add(panel(
        "Subjects seen by instance",
        "Subjects each replica has seen.",
        "short",
        18,
        vec![target(
            format!(
                "sum by (instance) ({})",
                selector(promql::SUBJECTS_SEEN, &job)
            ),
            "{{instance}}",
        )],
    ));
    b.row("Consent changes");
    b.add(panel(
        "Consent grants per second by category",
        "Subjects granting a category.",
        "ops",
        12,
        vec![target(
            rate("telemetry_category", promql::CONSENT_GRANTS, &job),
            "{{telemetry_category}}",
        )],
    ));
    b.add(panel(
        "Consent revocations per second by category",
        "Subjects revoking a category.",
        "ops",
        12,
        vec![target(
            rate("telemetry_category", promql::CONSENT_REVOCATIONS, &job),
            "{{telemetry_category}}",
        )],
    ));
    b.add(panel(
        "Deletion requests per second by category",
        "Subjects asking for their data to be deleted.",
        "ops",
        12,
        vec![target(
            rate("telemetry_category", promql::CONSENT_DELETIONS, &job),
            "{{telemetry_category}}",
        )],
    ));
    let w = duration(options.opt_out_window);
    let baseline = duration(options.opt_out_baseline);
    let revocations = selector(promql::CONSENT_REVOCATIONS, &job);
    b.add(panel(
        format!("Revocation rate over {w} relative to the {baseline} before"),
        "TelemetryOptOutSpike fires above its factor.",
        "short",
        12,
        vec![target(
            format!(
                "sum by (telemetry_category) (rate({revocations}[{w}]))\n/\nsum by (telemetry_category) (rate({revocations}[{baseline}] offset {w}))"
            ),
            "{{telemetry_category}}",
        )],
    ));
    dashboard(
        options,
        "consent",
        "consent and privacy",
        "Consent coverage per category across the fleet, grants, revocations and deletion requests. Generated by telemetry-dashboards.",
        vec![datasource_variable(), job_variable()],
        b,
    )
}

fn health(options: &Options) -> Dashboard {
    let mut b = Board::default();
    let job = m(&[JOB]);
    let dropped = promql::RECORDS_DROPPED;
    b.row("Dropped records");
    b.add(panel(
        "Records dropped per second by cause",
        "consent, sampling, rate_limit, queue_full, exporter_failure, limits, revoked, disabled, unconfirmed.",
        "ops",
        12,
        vec![target(rate("cause", dropped, &job), "{{cause}}")],
    ));
    b.add(panel(
        "Records dropped per second by category",
        "Dropped records by the category they were of.",
        "ops",
        12,
        vec![target(
            rate("telemetry_category", dropped, &job),
            "{{telemetry_category}}",
        )],
    ));
    b.row("Export");
    b.add(panel(
        "Export failures per second by instance",
        "Failed export attempts.",
        "ops",
        12,
        vec![target(
            rate("instance", promql::EXPORT_FAILURES, &job),
            "{{instance}}",
        )],
    ));
    b.add(panel(
        "Queue-full drops per second by instance",
        "Records dropped because the export queue was full.",
        "ops",
        12,
        vec![target(
            rate("instance", dropped, &m(&[JOB, "cause=\"queue_full\""])),
            "{{instance}}",
        )],
    ));
    b.row("Consent store");
    let by_instance =
        |agg: &str, metric: &str| format!("{agg} by (instance) ({})", selector(metric, &job));
    b.add(panel(
        "Consent store view stale (1 = stale)",
        "Whether each process's view of the shared consent store is stale; a stale process fails closed.",
        "short",
        6,
        vec![target(by_instance("max", promql::CONSENT_STALE), "{{instance}}")],
    ));
    b.add(panel(
        "Consent store view age",
        "How old each process's view of the shared consent store is.",
        "s",
        6,
        vec![target(
            by_instance("max", promql::CONSENT_VIEW_AGE),
            "{{instance}}",
        )],
    ));
    b.add(panel(
        "Pending revocations",
        "Revocations not yet applied everywhere.",
        "short",
        6,
        vec![target(
            by_instance("sum", promql::CONSENT_PENDING_REVOCATIONS),
            "{{instance}}",
        )],
    ));
    b.add(panel(
        "Cached subjects",
        "Subjects in each process's consent cache.",
        "short",
        6,
        vec![target(
            by_instance("sum", promql::CONSENT_CACHED_SUBJECTS),
            "{{instance}}",
        )],
    ));
    b.row("Propagation and instances");
    b.add(panel(
        "Propagation headers rejected per second",
        "Incoming trace and consent headers rejected, by header and reason.",
        "ops",
        16,
        vec![target(
            rate("header, reason", promql::PROPAGATION_REJECTED, &job),
            "{{header}}: {{reason}}",
        )],
    ));
    let mut instances = panel(
        "Instances reporting",
        "Processes exporting telemetry, by service.",
        "short",
        8,
        vec![target(
            format!(
                "count by (service_name) ({})",
                selector("target_info", &job)
            ),
            "{{service_name}}",
        )],
    );
    instances.stat = true;
    b.add(instances);
    dashboard(
        options,
        "health",
        "telemetry health",
        "Dropped records, export failures, the consent store and propagation. Generated by telemetry-dashboards.",
        vec![datasource_variable(), job_variable()],
        b,
    )
}

/// The three dashboards: service overview, consent and privacy, telemetry
/// health.
pub fn dashboards(functions: &[FunctionInfo], options: &Options) -> Vec<Dashboard> {
    vec![
        overview(functions, options),
        consent(options),
        health(options),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grafana::panel_queries;
    use serde_json::Value;
    use std::collections::HashSet;

    fn sample() -> Vec<FunctionInfo> {
        vec![
            FunctionInfo::new("checkout.place_order", "business").with_objective(
                Some(99.9),
                Some(250.0),
                None,
            ),
            FunctionInfo::new("inventory.reserve", "performance"),
        ]
    }

    #[test]
    fn dashboards_are_valid_and_every_panel_queries() {
        let boards = dashboards(&sample(), &Options::default());
        assert_eq!(boards.len(), 3);
        let mut uids = HashSet::new();
        for d in &boards {
            assert!(uids.insert(d.uid.clone()));
            let parsed: Value = serde_json::from_str(&d.to_json_string()).unwrap();
            assert_eq!(parsed, d.json);
            assert!(
                parsed.get("id").is_none(),
                "provisioned dashboards have no id"
            );
            assert_eq!(parsed["uid"], d.uid.as_str());
            assert_eq!(parsed["schemaVersion"], 39);
            let vars = parsed["templating"]["list"].as_array().unwrap();
            assert_eq!(vars[0]["type"], "datasource");
            assert_eq!(vars[0]["query"], "prometheus");
            let panels = parsed["panels"].as_array().unwrap();
            let mut ids = HashSet::new();
            for p in panels {
                assert!(
                    ids.insert(p["id"].as_u64().unwrap()),
                    "duplicate id in {}",
                    d.uid
                );
                let pos = &p["gridPos"];
                assert!(pos["x"].as_u64().unwrap() + pos["w"].as_u64().unwrap() <= 24);
                if p["type"] == "row" {
                    continue;
                }
                assert_eq!(p["datasource"]["uid"], "${datasource}");
                let targets = p["targets"].as_array().unwrap();
                assert!(!targets.is_empty(), "{}", p["title"]);
                for t in targets {
                    let expr = t["expr"].as_str().unwrap();
                    assert!(!expr.trim().is_empty(), "{}", p["title"]);
                    assert_eq!(t["datasource"]["uid"], "${datasource}");
                    assert_eq!(
                        expr.matches('(').count(),
                        expr.matches(')').count(),
                        "{expr}"
                    );
                    assert_eq!(
                        expr.matches('{').count(),
                        expr.matches('}').count(),
                        "{expr}"
                    );
                    assert!(!expr.contains("[5m]") && !expr.contains("[1m]"), "{expr}");
                }
            }
            assert!(!panel_queries(&parsed).is_empty());
        }
        let overview = &boards[0].json;
        let function = &overview["templating"]["list"][2];
        assert_eq!(
            function["query"],
            "label_values(function_calls_total, function)"
        );
        assert_eq!(function["multi"], true);
        assert_eq!(function["includeAll"], true);
        let queries = panel_queries(overview);
        assert!(
            queries
                .iter()
                .any(|(_, q)| q.contains("function=~\"$function\""))
        );
        assert!(
            queries
                .iter()
                .any(|(_, q)| q.contains("[$__rate_interval]"))
        );
        assert!(
            queries
                .iter()
                .any(|(_, q)| q.contains("telemetry_category=\"business\""))
        );
        assert!(
            queries
                .iter()
                .any(|(t, _)| t == "Objective of checkout.place_order")
        );
        assert!(
            queries
                .iter()
                .any(|(_, q)| q.contains("process_unix_file_descriptor_count"))
        );
    }

    #[test]
    fn uids_follow_the_service() {
        let options = Options {
            service: Some("Shop Checkout/EU".to_owned()),
            ..Options::default()
        };
        let boards = dashboards(&[], &options);
        assert_eq!(boards[0].uid, "telemetry-shop-checkout-eu-overview");
        assert_eq!(boards[0].title, "Shop Checkout/EU: service overview");
        assert!(boards.iter().all(|b| b.uid.len() <= 40));
        let plain = dashboards(&[], &Options::default());
        assert_eq!(plain[2].uid, "telemetry-health");
        assert_eq!(plain[0].title, "Service overview");
        assert_eq!(plain[2].title, "Telemetry health");
    }
}
