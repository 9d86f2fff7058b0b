//! The alert rules: per-function burn-rate alerts on objectives (with
//! recording rules for the ratio over each window), an error-ratio alert
//! for functions without a success objective, the library's health, and
//! privacy signals. Built as a small model (which the rule tests read
//! too), then written as a Prometheus rule file.

use std::time::Duration;

use crate::input::{FunctionInfo, LatencyObjective, distinct};
use crate::options::{BurnRateTier, Options, Severity};
use crate::promql::{self, duration, eq, indent, number, selector};
use crate::template::Text;
use crate::yaml::Writer;

/// A function with a success objective burns its error budget too fast.
pub const FUNCTION_ERROR_BUDGET_BURN: &str = "FunctionErrorBudgetBurn";
/// A function with a latency objective burns its latency budget too fast.
pub const FUNCTION_LATENCY_BUDGET_BURN: &str = "FunctionLatencyBudgetBurn";
/// A function without a success objective fails too often.
pub const FUNCTION_ERROR_RATIO_HIGH: &str = "FunctionErrorRatioHigh";
/// Exports keep failing.
pub const TELEMETRY_EXPORT_FAILING: &str = "TelemetryExportFailing";
/// Records are dropped because the export queue is full.
pub const TELEMETRY_QUEUE_FULL: &str = "TelemetryQueueFull";
/// A process's view of the shared consent store is stale.
pub const TELEMETRY_CONSENT_STORE_STALE: &str = "TelemetryConsentStoreStale";
/// Many propagation headers are rejected.
pub const TELEMETRY_PROPAGATION_REJECTED: &str = "TelemetryPropagationRejected";
/// Consent revocations of a category jump above their baseline.
pub const TELEMETRY_OPT_OUT_SPIKE: &str = "TelemetryOptOutSpike";
/// A category's consent coverage falls below what it was.
pub const TELEMETRY_CONSENT_COVERAGE_DROP: &str = "TelemetryConsentCoverageDrop";

/// The recording rule of the error ratio of each function over `window`.
fn error_ratio_record(window: Duration) -> String {
    format!(
        "job_function:function_calls:error_ratio_rate{}",
        duration(window)
    )
}

/// The recording rule of the slow-call ratio of each function over `window`.
fn slow_ratio_record(window: Duration) -> String {
    format!(
        "job_function:function_duration_seconds:slow_ratio_rate{}",
        duration(window)
    )
}

/// What an alert watches, for the rule tests to build its series.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A tier of [`FUNCTION_ERROR_BUDGET_BURN`]: `budget` is the error budget.
    ErrorBurn {
        function: FunctionInfo,
        budget: f64,
        tier: BurnRateTier,
    },
    /// A tier of [`FUNCTION_LATENCY_BUDGET_BURN`].
    LatencyBurn {
        function: FunctionInfo,
        objective: LatencyObjective,
        tier: BurnRateTier,
    },
    /// [`FUNCTION_ERROR_RATIO_HIGH`].
    ErrorRatio {
        function: FunctionInfo,
    },
    ExportFailing,
    QueueFull,
    ConsentStale,
    PropagationRejected,
    OptOutSpike,
    CoverageDrop,
}

/// One alerting rule.
#[derive(Clone, Debug)]
pub(crate) struct Alert {
    pub name: &'static str,
    pub expr: String,
    pub for_: Duration,
    pub severity: Severity,
    /// Labels besides `severity`.
    pub labels: Vec<(&'static str, Text)>,
    pub summary: Text,
    pub description: Text,
    pub kind: Kind,
}

impl Alert {
    /// The labels of the alert on a series with `series` labels: those,
    /// then `severity` and the rule's labels (which win).
    pub fn labels_for(&self, series: &[(String, String)]) -> Vec<(String, String)> {
        let mut labels: Vec<(String, String)> = series.to_vec();
        let mut set = |k: &str, v: String| {
            labels.retain(|(key, _)| key != k);
            labels.push((k.to_owned(), v));
        };
        set("severity", self.severity.name().to_owned());
        for (k, v) in &self.labels {
            set(k, v.render(series));
        }
        labels.sort();
        labels
    }

    /// The annotations of the alert on a series with `series` labels.
    pub fn annotations_for(&self, series: &[(String, String)]) -> Vec<(String, String)> {
        vec![
            ("description".to_owned(), self.description.render(series)),
            ("summary".to_owned(), self.summary.render(series)),
        ]
    }
}

/// One rule of a group.
#[derive(Clone, Debug)]
pub(crate) enum Rule {
    Record { name: String, expr: String },
    Alert(Box<Alert>),
}

/// A rule group.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub name: String,
    pub rules: Vec<Rule>,
}

impl Group {
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.rules.iter().filter_map(|r| match r {
            Rule::Alert(a) => Some(&**a),
            Rule::Record { .. } => None,
        })
    }
}

/// The matchers every rule's selectors carry: `job` if configured.
fn base(options: &Options) -> Vec<String> {
    options.job.iter().map(|j| eq("job", j)).collect()
}

fn with(base: &[String], more: &[String]) -> Vec<String> {
    base.iter().chain(more).cloned().collect()
}

/// `F`: the smallest factor of a tier (constant bad ratios above `F` times
/// the budget make it fire).
pub(crate) fn tier_threshold(tier: &BurnRateTier) -> Option<f64> {
    tier.windows
        .iter()
        .map(|w| w.factor)
        .filter(|f| f.is_finite())
        .reduce(f64::min)
}

/// "14.4× over 1h and 5m, or 6× over 6h and 30m".
fn describe_windows(tier: &BurnRateTier) -> String {
    tier.windows
        .iter()
        .map(|w| {
            format!(
                "{}× over {} and {}",
                number(w.factor),
                duration(w.long),
                duration(w.short)
            )
        })
        .collect::<Vec<_>>()
        .join(", or ")
}

/// The burn-rate expression of one tier on the recorded ratios.
fn burn_expr(
    tier: &BurnRateTier,
    record: fn(Duration) -> String,
    matchers: &[String],
    budget: f64,
) -> String {
    tier.windows
        .iter()
        .map(|w| {
            let t = number(w.factor * budget);
            format!(
                "(\n  {} > {t}\n  and\n  {} > {t}\n)",
                selector(&record(w.long), matchers),
                selector(&record(w.short), matchers)
            )
        })
        .collect::<Vec<_>>()
        .join("\nor\n")
}

fn function_labels(f: &FunctionInfo) -> Vec<(&'static str, Text)> {
    vec![
        ("function", Text::lit(&f.name)),
        ("telemetry_category", Text::lit(&f.category_name)),
    ]
}

fn objective_group(f: &FunctionInfo, options: &Options) -> Option<Group> {
    let budget = f.error_budget();
    let latency = f.latency_objective();
    if budget.is_none() && latency.is_none() {
        return None;
    }
    let base = base(options);
    let matchers = with(&base, &[eq("function", &f.name)]);
    let mut rules = Vec::new();
    let windows = options.burn_windows();
    if budget.is_some() {
        for window in &windows {
            rules.push(Rule::Record {
                name: error_ratio_record(*window),
                expr: promql::error_ratio("job, function", &matchers, &duration(*window)),
            });
        }
    }
    if let Some(l) = latency {
        for window in &windows {
            rules.push(Rule::Record {
                name: slow_ratio_record(*window),
                expr: promql::slow_ratio(
                    "job, function",
                    &matchers,
                    l.bound_seconds,
                    &duration(*window),
                ),
            });
        }
    }
    let module = f
        .module
        .as_deref()
        .map(|m| format!(" (module {m})"))
        .unwrap_or_default();
    for tier in options.burn_rate.iter().filter(|t| !t.windows.is_empty()) {
        if let Some(budget) = budget {
            let success = number(100.0 - budget * 100.0);
            rules.push(Rule::Alert(Box::new(Alert {
                name: FUNCTION_ERROR_BUDGET_BURN,
                expr: burn_expr(tier, error_ratio_record, &matchers, budget),
                for_: tier.for_,
                severity: tier.severity,
                labels: function_labels(f),
                summary: Text::lit("")
                    .label("function")
                    .then(" fails too often: its error budget burns too fast"),
                description: Text::lit(format!(
                    "Objective: {success} % of the calls of {}{module} succeed (an error budget of {} %). \
                     Its error ratio (calls with an outcome other than ok) is above {}. Job ",
                    f.name,
                    number(budget * 100.0),
                    describe_windows(tier)
                ))
                .label("job")
                .then("."),
                kind: Kind::ErrorBurn {
                    function: f.clone(),
                    budget,
                    tier: tier.clone(),
                },
            })));
        }
    }
    for tier in options.burn_rate.iter().filter(|t| !t.windows.is_empty()) {
        if let Some(l) = latency {
            rules.push(Rule::Alert(Box::new(Alert {
                name: FUNCTION_LATENCY_BUDGET_BURN,
                expr: burn_expr(tier, slow_ratio_record, &matchers, l.budget),
                for_: tier.for_,
                severity: tier.severity,
                labels: function_labels(f),
                summary: Text::lit("")
                    .label("function")
                    .then(" is too slow: its latency budget burns too fast"),
                description: Text::lit(format!(
                    "Objective: {} % of the calls of {}{module} finish within {} ms \
                     (histogram bucket le={} s; a budget of {} % slower calls). \
                     Its ratio of slower sampled calls is above {}. Job ",
                    number(l.percentile),
                    f.name,
                    number(l.threshold_ms),
                    promql::le_value(l.bound_seconds),
                    number(l.budget * 100.0),
                    describe_windows(tier)
                ))
                .label("job")
                .then("."),
                kind: Kind::LatencyBurn {
                    function: f.clone(),
                    objective: l,
                    tier: tier.clone(),
                },
            })));
        }
    }
    Some(Group {
        name: format!("telemetry-objective:{}", f.name),
        rules,
    })
}

fn error_ratio_alert(f: &FunctionInfo, options: &Options) -> Alert {
    let base = base(options);
    let matchers = with(&base, &[eq("function", &f.name)]);
    let w = duration(options.function_error_window);
    let by = "job, function";
    Alert {
        name: FUNCTION_ERROR_RATIO_HIGH,
        expr: format!(
            "(\n  {}\n) > {}\nand\n{} >= {}",
            indent(&promql::error_ratio(by, &matchers, &w), 2),
            number(options.function_error_ratio),
            promql::sum_rate(by, &selector(promql::FUNCTION_CALLS, &matchers), &w),
            number(options.function_min_call_rate),
        ),
        for_: options.function_error_for,
        severity: Severity::Ticket,
        labels: function_labels(f),
        summary: Text::lit("").label("function").then(" fails too often"),
        description: Text::lit(format!(
            "More than {} % of the calls of {} (which has no success objective) ended with an \
             outcome other than ok over {w}, at {} calls/s or more. Job ",
            number(options.function_error_ratio * 100.0),
            f.name,
            number(options.function_min_call_rate),
        ))
        .label("job")
        .then("."),
        kind: Kind::ErrorRatio {
            function: f.clone(),
        },
    }
}

/// `sum by (job, instance) (increase(c[w])) > 0`, or the counter is new
/// since `w` ago and above zero (its first sample holds increases a rate
/// cannot see).
fn increasing(counter: &str, window: &str) -> String {
    format!(
        "sum by (job, instance) (increase({counter}[{window}])) > 0\nor\n\
         sum by (job, instance) ({counter} unless {counter} offset {window}) > 0"
    )
}

fn health_group(options: &Options) -> Group {
    let base = base(options);
    let w = duration(options.health_window);
    let export = selector(promql::EXPORT_FAILURES, &base);
    let queue_full = selector(
        promql::RECORDS_DROPPED,
        &with(&base, &[eq("cause", "queue_full")]),
    );
    let alerts = vec![
        Alert {
            name: TELEMETRY_EXPORT_FAILING,
            expr: increasing(&export, &w),
            for_: options.export_failing_for,
            severity: Severity::Ticket,
            labels: Vec::new(),
            summary: Text::lit("Telemetry export is failing on ").label("instance"),
            description: Text::lit("Export attempts of job ")
            .label("job")
            .then(" on ")
            .label("instance")
            .then(format!(
                " keep failing (telemetry_export_failures_total increased within {w}, for {}). \
                 Records wait in the queue and are dropped (cause exporter_failure or queue_full) \
                 when it fills: check that the collector is reachable.",
                duration(options.export_failing_for)
            )),
            kind: Kind::ExportFailing,
        },
        Alert {
            name: TELEMETRY_QUEUE_FULL,
            expr: increasing(&queue_full, &w),
            for_: options.queue_full_for,
            severity: Severity::Ticket,
            labels: Vec::new(),
            summary: Text::lit("Telemetry records are dropped on ")
                .label("instance")
                .then(": the export queue is full"),
            description: Text::lit("Job ")
                .label("job")
                .then(" on ")
                .label("instance")
                .then(format!(
                    " dropped records because its export queue was full (cause queue_full, within {w}). \
                     The exporter is slower than the service records, or failing."
                )),
            kind: Kind::QueueFull,
        },
        Alert {
            name: TELEMETRY_CONSENT_STORE_STALE,
            expr: format!(
                "max by (job, instance) ({}) > 0",
                selector(promql::CONSENT_STALE, &base)
            ),
            for_: options.consent_stale_for,
            severity: Severity::Ticket,
            labels: Vec::new(),
            summary: Text::lit("The consent store view of ")
                .label("instance")
                .then(" is stale"),
            description: Text::lit("Job ")
                .label("job")
                .then(" on ")
                .label("instance")
                .then(format!(
                    " has not caught up with the shared consent store (telemetry_consent_stale_ratio > 0 for {}). \
                     It fails closed: records that need consent are dropped until it catches up. \
                     Check the store's reachability and telemetry_consent_view_age_seconds.",
                    duration(options.consent_stale_for)
                )),
            kind: Kind::ConsentStale,
        },
        Alert {
            name: TELEMETRY_PROPAGATION_REJECTED,
            expr: format!(
                "{} > {}",
                promql::sum_rate(
                    "job, instance",
                    &selector(promql::PROPAGATION_REJECTED, &base),
                    &w
                ),
                number(options.propagation_rejected_rate)
            ),
            for_: options.propagation_rejected_for,
            severity: Severity::Ticket,
            labels: Vec::new(),
            summary: Text::lit("Many propagation headers are rejected on ").label("instance"),
            description: Text::lit("Job ")
                .label("job")
                .then(" on ")
                .label("instance")
                .then(format!(
                    " rejects more than {} incoming trace or consent headers per second (over {w}): \
                     a caller sends malformed or oversized headers. See the header and reason labels \
                     of telemetry_propagation_rejected_total.",
                    number(options.propagation_rejected_rate)
                )),
            kind: Kind::PropagationRejected,
        },
    ];
    Group {
        name: "telemetry-health".to_owned(),
        rules: alerts
            .into_iter()
            .map(|a| Rule::Alert(Box::new(a)))
            .collect(),
    }
}

fn privacy_group(options: &Options) -> Group {
    let base = base(options);
    let by = "job, telemetry_category";
    let revocations = selector(promql::CONSENT_REVOCATIONS, &base);
    let w = duration(options.opt_out_window);
    let baseline = duration(options.opt_out_baseline);
    let current = promql::sum_rate(by, &revocations, &w);
    let opt_out = format!(
        "(\n  {current}\n  >\n  {} * (\n    sum by ({by}) (rate({revocations}[{baseline}] offset {w}))\n    or\n    {current} * 0\n  )\n)\nand\nsum by ({by}) (increase({revocations}[{w}])) >= {}",
        number(options.opt_out_factor),
        number(options.opt_out_min_revocations),
    );
    let offset = duration(options.coverage_baseline_offset);
    let coverage = format!(
        "(\n  {}\n)\n< {} * (\n  {}\n)\nand on (job)\nsum by (job) ({}) >= {}",
        indent(&promql::coverage(&base, None), 2),
        number(options.coverage_drop_factor),
        indent(&promql::coverage(&base, Some(&offset)), 2),
        selector(promql::SUBJECTS_SEEN, &base),
        number(options.coverage_min_subjects),
    );
    let alerts = vec![
        Alert {
            name: TELEMETRY_OPT_OUT_SPIKE,
            expr: opt_out,
            for_: options.opt_out_for,
            severity: Severity::Ticket,
            labels: Vec::new(),
            summary: Text::lit("Consent revocations of ")
                .label("telemetry_category")
                .then(" spike"),
            description: Text::lit("Subjects of job ")
                .label("job")
                .then(" revoke their consent to ")
                .label("telemetry_category")
                .then(format!(
                    " more than {}× as often over the last {w} as over the {baseline} before \
                     (and at least {} times): check what changed for them.",
                    number(options.opt_out_factor),
                    number(options.opt_out_min_revocations)
                )),
            kind: Kind::OptOutSpike,
        },
        Alert {
            name: TELEMETRY_CONSENT_COVERAGE_DROP,
            expr: coverage,
            for_: options.coverage_for,
            severity: Severity::Ticket,
            labels: Vec::new(),
            summary: Text::lit("Consent coverage of ")
                .label("telemetry_category")
                .then(" dropped"),
            description: Text::lit("The share of subjects of job ")
                .label("job")
                .then(" allowing ")
                .label("telemetry_category")
                .then(format!(
                    " is below {}× what it was {offset} ago (across the fleet, with at least {} subjects seen).",
                    number(options.coverage_drop_factor),
                    number(options.coverage_min_subjects)
                )),
            kind: Kind::CoverageDrop,
        },
    ];
    Group {
        name: "telemetry-privacy".to_owned(),
        rules: alerts
            .into_iter()
            .map(|a| Rule::Alert(Box::new(a)))
            .collect(),
    }
}

/// Every rule group for `functions`.
pub(crate) fn groups(functions: &[FunctionInfo], options: &Options) -> Vec<Group> {
    let functions = distinct(functions);
    let mut groups: Vec<Group> = functions
        .iter()
        .filter_map(|f| objective_group(f, options))
        .collect();
    let plain: Vec<Rule> = functions
        .iter()
        .filter(|f| f.error_budget().is_none())
        .map(|f| Rule::Alert(Box::new(error_ratio_alert(f, options))))
        .collect();
    if !plain.is_empty() {
        groups.push(Group {
            name: "telemetry-functions".to_owned(),
            rules: plain,
        });
    }
    groups.push(health_group(options));
    groups.push(privacy_group(options));
    groups
}

/// One generated alerting rule, as Prometheus will hold it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    /// The rule group.
    pub group: String,
    /// The alert's name (`alertname`).
    pub name: String,
    /// Its PromQL expression.
    pub expr: String,
    /// Its `for:` duration.
    pub for_: Duration,
    /// Its labels (`severity`, and `function` and `telemetry_category`
    /// for a function's alerts), as written (Go templates).
    pub labels: Vec<(String, String)>,
}

/// The alerting rules [`rules_yaml`] writes, e.g. to evaluate their
/// expressions against a running Prometheus.
pub fn alert_rules(functions: &[FunctionInfo], options: &Options) -> Vec<AlertRule> {
    groups(functions, options)
        .iter()
        .flat_map(|g| {
            g.alerts().map(|a| {
                let mut labels = vec![("severity".to_owned(), a.severity.name().to_owned())];
                labels.extend(
                    a.labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.template())),
                );
                AlertRule {
                    group: g.name.clone(),
                    name: a.name.to_owned(),
                    expr: a.expr.clone(),
                    for_: a.for_,
                    labels,
                }
            })
        })
        .collect()
}

/// The Prometheus rule file for `functions`.
pub fn rules_yaml(functions: &[FunctionInfo], options: &Options) -> String {
    let mut w = Writer::default();
    w.comment(
        0,
        "Prometheus alert rules generated by telemetry-dashboards from the service's\n\
         telemetry catalogue. Regenerate them rather than editing this file.\n\
         Check them with: promtool test rules telemetry-rules.test.yml",
    );
    w.open(0, "groups");
    for group in groups(functions, options) {
        w.blank();
        w.item_string(2, "name", &group.name);
        w.open(4, "rules");
        for rule in &group.rules {
            match rule {
                Rule::Record { name, expr } => {
                    w.item_string(6, "record", name);
                    w.text(8, "expr", expr);
                }
                Rule::Alert(a) => {
                    w.item_string(6, "alert", a.name);
                    w.text(8, "expr", &a.expr);
                    w.plain(8, "for", &duration(a.for_));
                    w.open(8, "labels");
                    w.string(10, "severity", a.severity.name());
                    for (k, v) in &a.labels {
                        w.string(10, k, &v.template());
                    }
                    w.open(8, "annotations");
                    w.string(10, "summary", &a.summary.template());
                    w.string(10, "description", &a.description.template());
                }
            }
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<FunctionInfo> {
        vec![
            FunctionInfo::new("checkout.place_order", "business")
                .with_module("shop::checkout")
                .with_objective(Some(99.9), Some(250.0), Some(99.0)),
            FunctionInfo::new("inventory.reserve", "performance"),
        ]
    }

    #[test]
    fn every_alert_is_written() {
        let y = rules_yaml(&sample(), &Options::default());
        for name in [
            FUNCTION_ERROR_BUDGET_BURN,
            FUNCTION_LATENCY_BUDGET_BURN,
            FUNCTION_ERROR_RATIO_HIGH,
            TELEMETRY_EXPORT_FAILING,
            TELEMETRY_QUEUE_FULL,
            TELEMETRY_CONSENT_STORE_STALE,
            TELEMETRY_PROPAGATION_REJECTED,
            TELEMETRY_OPT_OUT_SPIKE,
            TELEMETRY_CONSENT_COVERAGE_DROP,
        ] {
            assert!(
                y.contains(&format!("- alert: \"{name}\"")),
                "{name} missing:\n{y}"
            );
        }
        // Burn rates of the SRE workbook against a 0.1 % error budget and a
        // 1 % latency budget.
        assert!(y.contains("job_function:function_calls:error_ratio_rate1h{function=\"checkout.place_order\"} > 0.0144"));
        assert!(y.contains("job_function:function_calls:error_ratio_rate5m{function=\"checkout.place_order\"} > 0.0144"));
        assert!(y.contains("job_function:function_calls:error_ratio_rate6h{function=\"checkout.place_order\"} > 0.006"));
        assert!(y.contains("job_function:function_calls:error_ratio_rate3d{function=\"checkout.place_order\"} > 0.001"));
        assert!(y.contains("job_function:function_duration_seconds:slow_ratio_rate1h{function=\"checkout.place_order\"} > 0.144"));
        assert!(y.contains("le=\"0.25\""));
        // Only the function without an objective gets the default alert.
        let rules = alert_rules(&sample(), &Options::default());
        let plain: Vec<_> = rules
            .iter()
            .filter(|r| r.name == FUNCTION_ERROR_RATIO_HIGH)
            .collect();
        assert_eq!(plain.len(), 1);
        assert!(
            plain[0]
                .labels
                .contains(&("function".to_owned(), "inventory.reserve".to_owned()))
        );
        assert!(plain[0].expr.contains(">= 0.1"));
        let burns = rules
            .iter()
            .filter(|r| r.name == FUNCTION_ERROR_BUDGET_BURN)
            .count();
        assert_eq!(burns, 2, "one per severity");
    }

    #[test]
    fn without_functions_only_health_and_privacy() {
        let rules = alert_rules(&[], &Options::default());
        assert_eq!(rules.len(), 6);
        assert!(
            rules
                .iter()
                .all(|r| r.group == "telemetry-health" || r.group == "telemetry-privacy")
        );
    }

    #[test]
    fn options_reach_the_rules() {
        let options = Options {
            job: Some("shop".to_owned()),
            ..Options::for_tests()
        };
        let y = rules_yaml(&sample(), &options);
        assert!(y.contains("for: 0s"));
        assert!(!y.contains("for: 2m"));
        assert!(y.contains("telemetry_export_failures_total{job=\"shop\"}[1m]"));
        assert!(
            y.contains("function_calls_total{job=\"shop\",function=\"inventory.reserve\"}[1m]")
        );
    }

    #[test]
    fn odd_names_are_quoted_and_escaped() {
        let odd = "we\"ird\\name {{ $x }} ☃\u{2028}";
        let y = rules_yaml(&[FunctionInfo::new(odd, "business")], &Options::default());
        // In the PromQL selector (a YAML block): Go string escapes.
        assert!(
            y.contains("function=\"we\\\"ird\\\\name {{ $x }} ☃\\u2028\""),
            "{y}"
        );
        // As a label: a quoted YAML scalar holding a Go template that
        // expands to the name.
        let label = y
            .lines()
            .find(|l| l.trim_start().starts_with("function: "))
            .unwrap()
            .trim_start()
            .trim_start_matches("function: ");
        let template = crate::yaml::tests::unquote(label).unwrap();
        assert_eq!(
            template,
            "we\"ird\\name {{ \"{\" }}{{ \"{\" }} $x }} ☃\u{2028}"
        );
    }
}
