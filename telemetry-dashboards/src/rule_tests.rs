//! promtool unit tests for the generated rules (`promtool test rules`):
//! for every alert, synthetic series that make it fire (with the labels
//! and annotations it must have) and healthy series that keep it silent.
//! The series are built from the same options as the rules, so the tests
//! follow any window, threshold or `for:` the service sets.

use std::time::Duration;

use crate::input::FunctionInfo;
use crate::options::Options;
use crate::promql::{self, duration, number};
use crate::rules::{self, Alert, Kind, tier_threshold};
use crate::yaml::Writer;

/// The rule file the tests load, relative to the test file: both are
/// written to the same directory.
pub const RULES_FILE_NAME: &str = "telemetry-rules.yml";

/// Calls per step of the synthetic function series.
const CALLS_PER_STEP: f64 = 10_000.0;

type Labels = Vec<(String, String)>;

/// One input series: its description and its values in promtool's
/// expanding notation.
#[derive(Clone)]
struct Series {
    desc: String,
    values: String,
}

/// Values in expanding notation, built segment by segment.
#[derive(Default)]
struct Values {
    parts: Vec<String>,
    last: Option<f64>,
}

impl Values {
    /// A counter growing by `per_step` for `samples` samples, continuing
    /// from the previous segment (a first segment starts at 0).
    fn counter(mut self, per_step: f64, samples: u64) -> Self {
        if samples == 0 {
            return self;
        }
        let start = self.last.map_or(0.0, |l| l + per_step);
        let n = samples - 1;
        self.parts
            .push(format!("{}+{}x{n}", number(start), number(per_step)));
        self.last = Some(start + per_step * n as f64);
        self
    }

    /// A gauge holding `value` for `samples` samples.
    fn gauge(mut self, value: f64, samples: u64) -> Self {
        if samples == 0 {
            return self;
        }
        self.parts
            .push(format!("{}x{}", number(value), samples - 1));
        self.last = Some(value);
        self
    }

    fn text(&self) -> String {
        self.parts.join(" ")
    }
}

fn series(metric: &str, labels: &[(&str, &str)], values: &Values) -> Series {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", promql::string(v)))
        .collect();
    Series {
        desc: format!("{metric}{{{}}}", labels.join(",")),
        values: values.text(),
    }
}

/// An alert a test expects: its labels and annotations.
struct Expected {
    labels: Labels,
    annotations: Labels,
}

fn expect(alert: &Alert, series: &[(&str, &str)]) -> Expected {
    let series: Labels = series
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Expected {
        labels: alert.labels_for(&series),
        annotations: alert.annotations_for(&series),
    }
}

/// One test group: series, and what one alert does at one time.
struct Case {
    name: String,
    series: Vec<Series>,
    eval_time: Duration,
    alertname: &'static str,
    expected: Vec<Expected>,
}

/// Builds the cases, on a grid of `step`.
struct Builder<'a> {
    options: &'a Options,
    step: Duration,
    job: String,
    cases: Vec<Case>,
    notes: Vec<String>,
}

const INSTANCE_1: &str = "replica-1:9464";
const INSTANCE_2: &str = "replica-2:9464";

impl Builder<'_> {
    fn secs(&self) -> f64 {
        self.step.as_secs_f64()
    }

    /// `d` rounded up to whole steps.
    fn steps(&self, d: Duration) -> u64 {
        (d.as_secs_f64() / self.secs()).ceil() as u64
    }

    /// `n` steps.
    fn at(&self, n: u64) -> Duration {
        self.step * u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The evaluation time after which alerts with `for_` fire on a
    /// condition that holds from `warmup` on, and the samples to cover it.
    fn horizon(&self, warmup: Duration, for_: Duration) -> (Duration, u64) {
        let n = self.steps(warmup) + self.steps(for_) + 3;
        (self.at(n), n + 3)
    }

    fn function_labels<'f>(&'f self, f: &'f FunctionInfo) -> Vec<(&'f str, &'f str)> {
        let mut labels = vec![("function", f.name.as_str())];
        if let Some(m) = &f.module {
            labels.push(("module", m.as_str()));
        }
        labels.push(("telemetry_category", f.category_name.as_str()));
        labels.push(("job", self.job.as_str()));
        labels.push(("instance", INSTANCE_1));
        labels
    }

    /// Calls of `f` with a constant error ratio `ratio`.
    fn calls(&self, f: &FunctionInfo, per_step: f64, ratio: f64, samples: u64) -> Vec<Series> {
        let base = self.function_labels(f);
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut l = base.clone();
            l.extend_from_slice(extra);
            l
        };
        vec![
            series(
                promql::FUNCTION_CALLS,
                &with(&[("outcome", "ok")]),
                &Values::default().counter(per_step * (1.0 - ratio), samples),
            ),
            series(
                promql::FUNCTION_CALLS,
                &with(&[("outcome", "error"), ("error_type", "Timeout")]),
                &Values::default().counter(per_step * ratio, samples),
            ),
        ]
    }

    /// Sampled call durations of `f` with a constant ratio `slow` of calls
    /// above `bound`.
    fn durations(&self, f: &FunctionInfo, bound: f64, slow: f64, samples: u64) -> Vec<Series> {
        let mut labels = self.function_labels(f);
        labels.push(("outcome", "ok"));
        let le = promql::le_value(bound);
        let with_le = |v: &'static str| {
            let mut l = labels.clone();
            l.push(("le", v));
            l
        };
        let mut at_bound = labels.clone();
        at_bound.push(("le", le.as_str()));
        vec![
            series(
                promql::FUNCTION_DURATION_BUCKET,
                &at_bound,
                &Values::default().counter(CALLS_PER_STEP * (1.0 - slow), samples),
            ),
            series(
                promql::FUNCTION_DURATION_BUCKET,
                &with_le("+Inf"),
                &Values::default().counter(CALLS_PER_STEP, samples),
            ),
            series(
                promql::FUNCTION_DURATION_COUNT,
                &labels,
                &Values::default().counter(CALLS_PER_STEP, samples),
            ),
        ]
    }

    /// The cases of one function's burn-rate alert (all its tiers):
    /// `bad(ratio, samples)` gives series with that ratio of bad calls.
    fn burn(
        &mut self,
        alertname: &'static str,
        f: &FunctionInfo,
        budget: f64,
        tiers: &[&Alert],
        bad: &dyn Fn(&Self, f64, u64) -> Vec<Series>,
    ) {
        let thresholds: Vec<(&Alert, f64)> = tiers
            .iter()
            .filter_map(|a| match &a.kind {
                Kind::ErrorBurn { tier, .. } | Kind::LatencyBurn { tier, .. } => {
                    tier_threshold(tier).map(|t| (*a, t * budget))
                }
                _ => None,
            })
            .collect();
        let series_labels = [("job", self.job.as_str()), ("function", f.name.as_str())];
        for (alert, threshold) in &thresholds {
            let severity = alert.severity.name();
            if *threshold >= 1.0 {
                self.notes.push(format!(
                    "{alertname} ({severity}) of {} cannot fire: its burn rate times the budget is {} ≥ 1",
                    f.name,
                    number(*threshold)
                ));
                continue;
            }
            let above = thresholds
                .iter()
                .map(|(_, t)| *t)
                .filter(|t| t > threshold)
                .reduce(f64::min);
            let ratio = match above {
                Some(above) => (threshold + above.min(1.0)) / 2.0,
                None => (threshold * 2.0).min((threshold + 1.0) / 2.0),
            };
            let firing: Vec<&Alert> = thresholds
                .iter()
                .filter(|(_, t)| ratio > *t)
                .map(|(a, _)| *a)
                .collect();
            let for_ = firing.iter().map(|a| a.for_).max().unwrap_or_default();
            let (eval_time, samples) = self.horizon(self.step, for_);
            let expected = firing.iter().map(|a| expect(a, &series_labels)).collect();
            self.cases.push(Case {
                name: format!(
                    "{alertname} ({severity}) fires for {}: {} % bad calls",
                    f.name,
                    number(ratio * 100.0)
                ),
                series: bad(self, ratio, samples),
                eval_time,
                alertname,
                expected,
            });
        }
        let Some(lowest) = thresholds.iter().map(|(_, t)| *t).reduce(f64::min) else {
            return;
        };
        let ratio = lowest / 2.0;
        let for_ = tiers.iter().map(|a| a.for_).max().unwrap_or_default();
        let (eval_time, samples) = self.horizon(self.step, for_);
        let severities: Vec<&str> = tiers.iter().map(|a| a.severity.name()).collect();
        self.cases.push(Case {
            name: format!(
                "{alertname} ({}) stays silent for {}: {} % bad calls",
                severities.join(", "),
                f.name,
                number(ratio * 100.0)
            ),
            series: bad(self, ratio, samples),
            eval_time,
            alertname,
            expected: Vec::new(),
        });
    }

    fn error_ratio(&mut self, alert: &Alert, f: &FunctionInfo) {
        let o = self.options;
        let p = o.function_error_ratio;
        let min_rate = o.function_min_call_rate;
        let (eval_time, samples) = self.horizon(o.function_error_window, alert.for_);
        let busy = (min_rate * 4.0).max(1.0) * self.secs();
        let series_labels = [("job", self.job.as_str()), ("function", f.name.as_str())];
        if p < 1.0 {
            let bad = if p * 2.0 < 1.0 {
                p * 2.0
            } else {
                (p + 1.0) / 2.0
            };
            self.cases.push(Case {
                name: format!(
                    "{} fires for {}: {} % errors",
                    alert.name,
                    f.name,
                    number(bad * 100.0)
                ),
                series: self.calls(f, busy, bad.max(0.0), samples),
                eval_time,
                alertname: alert.name,
                expected: vec![expect(alert, &series_labels)],
            });
            if min_rate > 0.0 {
                self.cases.push(Case {
                    name: format!(
                        "{} stays silent for {} while it is idle, even if every call fails",
                        alert.name, f.name
                    ),
                    series: self.calls(f, min_rate / 4.0 * self.secs(), 1.0, samples),
                    eval_time,
                    alertname: alert.name,
                    expected: Vec::new(),
                });
            }
        } else {
            self.notes.push(format!(
                "{} of {} cannot fire: the error ratio threshold is {} ≥ 1",
                alert.name,
                f.name,
                number(p)
            ));
        }
        self.cases.push(Case {
            name: format!(
                "{} stays silent for {}: {} % errors",
                alert.name,
                f.name,
                number(p.min(1.0) / 2.0 * 100.0)
            ),
            series: self.calls(f, busy, p.min(1.0) / 2.0, samples),
            eval_time,
            alertname: alert.name,
            expected: Vec::new(),
        });
    }

    /// A fire and a silent case for an alert on one instance's series.
    fn per_instance(
        &mut self,
        alert: &Alert,
        warmup: Duration,
        what: (&str, &str),
        make: &dyn Fn(&Self, bool, &str, u64) -> Vec<Series>,
    ) {
        let (eval_time, samples) = self.horizon(warmup, alert.for_);
        let fire = [
            make(self, true, INSTANCE_1, samples),
            make(self, false, INSTANCE_2, samples),
        ]
        .concat();
        let calm = [
            make(self, false, INSTANCE_1, samples),
            make(self, false, INSTANCE_2, samples),
        ]
        .concat();
        let labels = [("job", self.job.as_str()), ("instance", INSTANCE_1)];
        self.cases.push(Case {
            name: format!("{} fires when {}", alert.name, what.0),
            series: fire,
            eval_time,
            alertname: alert.name,
            expected: vec![expect(alert, &labels)],
        });
        self.cases.push(Case {
            name: format!("{} stays silent when {}", alert.name, what.1),
            series: calm,
            eval_time,
            alertname: alert.name,
            expected: Vec::new(),
        });
    }

    fn instance_labels<'s>(&'s self, instance: &'s str) -> Vec<(&'s str, &'s str)> {
        vec![("job", self.job.as_str()), ("instance", instance)]
    }

    fn health(&mut self, alert: &Alert) {
        let w = self.options.health_window;
        match alert.kind {
            Kind::ExportFailing => self.per_instance(
                alert,
                w,
                ("exports keep failing", "no export fails"),
                &|b, bad, instance, n| {
                    vec![series(
                        promql::EXPORT_FAILURES,
                        &b.instance_labels(instance),
                        &Values::default().counter(if bad { 1.0 } else { 0.0 }, n),
                    )]
                },
            ),
            Kind::QueueFull => self.per_instance(
                alert,
                w,
                (
                    "records are dropped because the queue is full",
                    "records are dropped by sampling only",
                ),
                &|b, bad, instance, n| {
                    let mut full = b.instance_labels(instance);
                    full.extend([
                        ("cause", "queue_full"),
                        ("telemetry_category", "performance"),
                    ]);
                    let mut sampling = b.instance_labels(instance);
                    sampling.extend([("cause", "sampling"), ("telemetry_category", "performance")]);
                    vec![
                        series(
                            promql::RECORDS_DROPPED,
                            &full,
                            &Values::default().counter(if bad { 5.0 } else { 0.0 }, n),
                        ),
                        series(
                            promql::RECORDS_DROPPED,
                            &sampling,
                            &Values::default().counter(50.0, n),
                        ),
                    ]
                },
            ),
            Kind::ConsentStale => self.per_instance(
                alert,
                Duration::ZERO,
                (
                    "the consent store view is stale",
                    "the consent store view is fresh",
                ),
                &|b, bad, instance, n| {
                    vec![series(
                        promql::CONSENT_STALE,
                        &b.instance_labels(instance),
                        &Values::default().gauge(if bad { 1.0 } else { 0.0 }, n),
                    )]
                },
            ),
            Kind::PropagationRejected => {
                let q = self.options.propagation_rejected_rate.max(0.0);
                let (high, low) = if q > 0.0 {
                    (q * 4.0, q / 4.0)
                } else {
                    (1.0, 0.0)
                };
                self.per_instance(
                    alert,
                    w,
                    ("many headers are rejected", "few headers are rejected"),
                    &|b, bad, instance, n| {
                        let mut labels = b.instance_labels(instance);
                        labels.extend([("header", "traceparent"), ("reason", "malformed")]);
                        let rate = if bad { high } else { low };
                        vec![series(
                            promql::PROPAGATION_REJECTED,
                            &labels,
                            &Values::default().counter(rate * b.secs(), n),
                        )]
                    },
                );
            }
            _ => {}
        }
    }

    fn opt_out(&mut self, alert: &Alert) {
        let o = self.options;
        let s = self.secs();
        let w = o.opt_out_window.as_secs_f64().max(s);
        let baseline = o.opt_out_baseline.as_secs_f64().max(s);
        let factor = o.opt_out_factor;
        let min = o.opt_out_min_revocations.max(0.0);
        let category = "interaction";
        let labels = [
            ("telemetry_category", category),
            ("job", self.job.as_str()),
            ("instance", INSTANCE_1),
        ];
        let expected_labels = [("job", self.job.as_str()), ("telemetry_category", category)];
        // Steady revocations (per second), enough to pass the minimum.
        let steady = min.max(1.0) * 2.0 / w;
        // The spike starts once a full baseline window precedes it; it
        // lasts a window and `for:`; by then the baseline holds at most
        // `for:` and three steps of it.
        let start = self.steps(o.opt_out_baseline + o.opt_out_window) + 2;
        let spike = self.steps(o.opt_out_window + alert.for_) + 2;
        let eval_time = self.at(start + spike);
        let samples = start + spike + 3;
        let overlap = alert.for_.as_secs_f64() + 3.0 * s;
        let k = 1.2 * factor.max(0.0) * overlap / baseline;
        if k < 1.0 {
            let needed = 2.4 * factor.max(0.0) * steady * (baseline - overlap).max(0.0)
                / baseline
                / (1.0 - k);
            let high = needed.max(2.0 * min / w).max(2.0 * steady);
            self.cases.push(Case {
                name: format!(
                    "{} fires when revocations per {} jump from {} to {}",
                    alert.name,
                    duration(o.opt_out_window),
                    number((steady * w).round()),
                    number((high * w).round())
                ),
                series: vec![series(
                    promql::CONSENT_REVOCATIONS,
                    &labels,
                    &Values::default()
                        .counter(steady * s, start + 1)
                        .counter(high * s, samples - start - 1),
                )],
                eval_time,
                alertname: alert.name,
                expected: vec![expect(alert, &expected_labels)],
            });
        } else {
            self.notes.push(format!(
                "{} has no firing test: with for: {} its baseline of {} holds too much of any spike",
                alert.name,
                duration(alert.for_),
                duration(o.opt_out_baseline)
            ));
        }
        let (calm, what) = if factor > 1.0 {
            (steady, "steady")
        } else {
            (min / 4.0 / w, "below the minimum")
        };
        if calm * w < min || factor > 1.0 {
            self.cases.push(Case {
                name: format!(
                    "{} stays silent while revocations are {what} ({} per {})",
                    alert.name,
                    number((calm * w * 100.0).round() / 100.0),
                    duration(o.opt_out_window)
                ),
                series: vec![series(
                    promql::CONSENT_REVOCATIONS,
                    &labels,
                    &Values::default().counter(calm * s, samples),
                )],
                eval_time,
                alertname: alert.name,
                expected: Vec::new(),
            });
        } else {
            self.notes.push(format!(
                "{} has no silent test: any revocation rate fires it",
                alert.name
            ));
        }
    }

    fn coverage(&mut self, alert: &Alert) {
        let o = self.options;
        let factor = o.coverage_drop_factor;
        let category = "business";
        let drop_at = self.steps(o.coverage_baseline_offset) + 1;
        let eval_time = self.at(drop_at + self.steps(alert.for_) + 2);
        let samples = drop_at + self.steps(alert.for_) + 5;
        let fleet = |b: &Self, seen: f64, before: f64, after: f64| -> Vec<Series> {
            [INSTANCE_1, INSTANCE_2]
                .iter()
                .flat_map(|instance| {
                    let mut allowing = b.instance_labels(instance);
                    allowing.push(("telemetry_category", category));
                    vec![
                        series(
                            promql::SUBJECTS_SEEN,
                            &b.instance_labels(instance),
                            &Values::default().gauge(seen, samples),
                        ),
                        series(
                            promql::SUBJECTS_ALLOWING,
                            &allowing,
                            &Values::default()
                                .gauge(before * seen, drop_at)
                                .gauge(after * seen, samples - drop_at),
                        ),
                    ]
                })
                .collect()
        };
        let seen = o.coverage_min_subjects.max(500.0).ceil();
        let expected_labels = [("job", self.job.as_str()), ("telemetry_category", category)];
        if factor > 0.0 && o.coverage_baseline_offset > self.at(self.steps(alert.for_) + 2) {
            let after = 0.8 * factor / 2.0;
            self.cases.push(Case {
                name: format!(
                    "{} fires when coverage falls from 80 % to {} %",
                    alert.name,
                    number(after * 100.0)
                ),
                series: fleet(self, seen, 0.8, after),
                eval_time,
                alertname: alert.name,
                expected: vec![expect(alert, &expected_labels)],
            });
        } else {
            self.notes.push(format!(
                "{} has no firing test: its factor or its offset and for: allow none",
                alert.name
            ));
        }
        let (calm, what) = if factor <= 1.0 {
            (fleet(self, seen, 0.8, 0.8), "coverage holds at 80 %")
        } else {
            let few = (o.coverage_min_subjects / 8.0).floor();
            (
                fleet(self, few, 0.8, 0.4),
                "the fleet has seen too few subjects",
            )
        };
        self.cases.push(Case {
            name: format!("{} stays silent when {what}", alert.name),
            series: calm,
            eval_time,
            alertname: alert.name,
            expected: Vec::new(),
        });
    }
}

/// The grid of the tests: a quarter of the shortest window, between one
/// second and one minute (a rate needs two samples in its window).
fn step(options: &Options) -> Duration {
    let shortest = options
        .burn_windows()
        .into_iter()
        .chain([
            options.function_error_window,
            options.health_window,
            options.opt_out_window,
        ])
        .filter(|d| !d.is_zero())
        .min()
        .unwrap_or(Duration::from_secs(60));
    let secs = (shortest.as_secs() / 4).clamp(1, 60);
    Duration::from_secs(secs)
}

fn cases(functions: &[FunctionInfo], options: &Options) -> (Duration, Vec<Case>, Vec<String>) {
    let groups = rules::groups(functions, options);
    let mut b = Builder {
        options,
        step: step(options),
        job: options.job.clone().unwrap_or_else(|| "shop".to_owned()),
        cases: Vec::new(),
        notes: Vec::new(),
    };
    for group in &groups {
        let alerts: Vec<&Alert> = group.alerts().collect();
        // The tiers of one function's burn-rate alert are tested together.
        let errors: Vec<&Alert> = alerts
            .iter()
            .copied()
            .filter(|a| matches!(a.kind, Kind::ErrorBurn { .. }))
            .collect();
        if let Some(Kind::ErrorBurn {
            function, budget, ..
        }) = errors.first().map(|a| &a.kind)
        {
            b.burn(
                rules::FUNCTION_ERROR_BUDGET_BURN,
                function,
                *budget,
                &errors,
                &|b, ratio, n| b.calls(function, CALLS_PER_STEP, ratio, n),
            );
        }
        let slow: Vec<&Alert> = alerts
            .iter()
            .copied()
            .filter(|a| matches!(a.kind, Kind::LatencyBurn { .. }))
            .collect();
        if let Some(Kind::LatencyBurn {
            function,
            objective,
            ..
        }) = slow.first().map(|a| &a.kind)
        {
            let bound = objective.bound_seconds;
            b.burn(
                rules::FUNCTION_LATENCY_BUDGET_BURN,
                function,
                objective.budget,
                &slow,
                &|b, ratio, n| b.durations(function, bound, ratio, n),
            );
        }
        for alert in alerts {
            match &alert.kind {
                Kind::ErrorBurn { .. } | Kind::LatencyBurn { .. } => {}
                Kind::ErrorRatio { function } => b.error_ratio(alert, function),
                Kind::ExportFailing
                | Kind::QueueFull
                | Kind::ConsentStale
                | Kind::PropagationRejected => b.health(alert),
                Kind::OptOutSpike => b.opt_out(alert),
                Kind::CoverageDrop => b.coverage(alert),
            }
        }
    }
    (b.step, b.cases, b.notes)
}

/// The promtool test file for the rules [`rules_yaml`](crate::rules_yaml)
/// writes, which it loads as `telemetry-rules.yml` from its own directory.
/// Run it with `promtool test rules telemetry-rules.test.yml`.
pub fn rule_tests_yaml(functions: &[FunctionInfo], options: &Options) -> String {
    let (step, cases, notes) = cases(functions, options);
    let mut w = Writer::default();
    w.comment(
        0,
        "promtool unit tests of telemetry-rules.yml, generated by telemetry-dashboards:\n\
         for every alert, series that make it fire and series that keep it silent.\n\
         Run them with: promtool test rules telemetry-rules.test.yml",
    );
    for note in &notes {
        w.comment(0, &format!("Not tested: {note}"));
    }
    w.open(0, "rule_files");
    w.list_string(2, RULES_FILE_NAME);
    w.plain(0, "evaluation_interval", &duration(step));
    w.open(0, "tests");
    for case in &cases {
        w.blank();
        w.item_string(2, "name", &case.name);
        w.plain(4, "interval", &duration(step));
        w.open(4, "input_series");
        for s in &case.series {
            w.item_string(6, "series", &s.desc);
            w.string(8, "values", &s.values);
        }
        w.open(4, "alert_rule_test");
        w.item(6);
        w.plain(0, "eval_time", &duration(case.eval_time));
        w.string(8, "alertname", case.alertname);
        if case.expected.is_empty() {
            w.plain(8, "exp_alerts", "[]");
            continue;
        }
        w.open(8, "exp_alerts");
        for e in &case.expected {
            w.item(10);
            w.open(0, "exp_labels");
            for (k, v) in &e.labels {
                w.string(14, k, v);
            }
            w.open(12, "exp_annotations");
            for (k, v) in &e.annotations {
                w.string(14, k, v);
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
                .with_objective(Some(99.9), Some(250.0), None),
            FunctionInfo::new("inventory.reserve", "performance"),
        ]
    }

    #[test]
    fn every_alert_has_a_firing_and_a_silent_case() {
        for options in [Options::default(), Options::for_tests()] {
            let (_, cases, notes) = cases(&sample(), &options);
            assert!(notes.is_empty(), "{notes:?}");
            for rule in rules::alert_rules(&sample(), &options) {
                let severity = &rule.labels[0].1;
                let function = rule
                    .labels
                    .iter()
                    .find(|(k, _)| k == "function")
                    .map(|(_, v)| v);
                let of_rule = |c: &&Case| {
                    c.alertname == rule.name && function.is_none_or(|f| c.name.contains(f.as_str()))
                };
                let fires = cases.iter().filter(of_rule).any(|c| {
                    c.expected.iter().any(|e| {
                        e.labels
                            .contains(&("severity".to_owned(), severity.clone()))
                    })
                });
                let silent = cases.iter().filter(of_rule).any(|c| c.expected.is_empty());
                assert!(fires && silent, "{} {severity} {function:?}", rule.name);
            }
        }
    }

    #[test]
    fn a_page_level_burn_also_fires_the_ticket() {
        let (_, cases, _) = cases(&sample(), &Options::default());
        let page = cases
            .iter()
            .find(|c| c.name.starts_with("FunctionErrorBudgetBurn (page) fires"))
            .unwrap();
        assert_eq!(page.expected.len(), 2);
        let ticket = cases
            .iter()
            .find(|c| c.name.starts_with("FunctionErrorBudgetBurn (ticket) fires"))
            .unwrap();
        assert_eq!(ticket.expected.len(), 1);
        // 3.5× the 0.1 % budget: above 1×, below 6×.
        assert!(ticket.name.ends_with("0.35 % bad calls"), "{}", ticket.name);
    }

    #[test]
    fn values_continue_across_segments() {
        let v = Values::default().counter(2.0, 3).counter(10.0, 2);
        assert_eq!(v.text(), "0+2x2 14+10x1");
        assert_eq!(
            Values::default().gauge(0.5, 4).gauge(1.0, 1).text(),
            "0.5x3 1x0"
        );
    }

    #[test]
    fn the_file_names_the_rules_beside_it() {
        let y = rule_tests_yaml(&sample(), &Options::default());
        assert!(y.contains("rule_files:\n  - \"telemetry-rules.yml\"\n"));
        assert!(y.contains("evaluation_interval: 1m\n"));
        assert!(y.contains("exp_alerts: []"));
    }
}
