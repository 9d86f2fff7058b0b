//! The settings of the generated rules and dashboards: every `for:`
//! duration, window and threshold, with defaults for production
//! ([`Options::default`]) and for tests that must see alerts fire within
//! seconds ([`Options::for_tests`]).

use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// How urgent an alert is: the value of its `severity` label.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Wake someone up: `severity="page"`.
    Page,
    /// Handle during working hours: `severity="ticket"`.
    Ticket,
}

impl Severity {
    /// The label value: `page` or `ticket`.
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One pair of windows of a multi-window burn-rate alert: it holds when
/// the ratio of bad calls over both windows is above `factor` times the
/// error budget (Google SRE workbook, "Alerting on SLOs").
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct BurnWindow {
    /// The burn rate: how many times faster than allowed the budget is
    /// spent, e.g. `14.4` (2 % of a 30-day budget in one hour).
    pub factor: f64,
    /// The long window, e.g. one hour: the burn is significant.
    pub long: Duration,
    /// The short window, e.g. five minutes: the burn is still going on,
    /// so the alert resolves soon after the problem does.
    pub short: Duration,
}

/// The burn-rate alerts of one severity: it fires when any of its window
/// pairs holds, for `for_`.
#[derive(Clone, Debug, PartialEq)]
pub struct BurnRateTier {
    /// The `severity` label of the alert.
    pub severity: Severity,
    /// The window pairs, any of which makes the alert fire.
    pub windows: Vec<BurnWindow>,
    /// The alert's `for:` duration.
    pub for_: Duration,
}

/// Everything the generated rules and dashboards can be tuned by.
///
/// The defaults ([`Options::default`]) are for production:
///
/// | setting | default |
/// |---|---|
/// | [`burn_rate`](Self::burn_rate) | page: 14.4× over 1h and 5m, or 6× over 6h and 30m, `for: 2m`; ticket: 1× over 3d and 6h, `for: 1h` |
/// | [`function_error_ratio`](Self::function_error_ratio) (functions without a success objective) | 0.05 (5 %) over [`function_error_window`](Self::function_error_window) 5m, `for: 5m`, when at least [`function_min_call_rate`](Self::function_min_call_rate) 0.1 calls/s |
/// | [`health_window`](Self::health_window) | 5m |
/// | [`export_failing_for`](Self::export_failing_for) | 10m |
/// | [`queue_full_for`](Self::queue_full_for) | 10m |
/// | [`consent_stale_for`](Self::consent_stale_for) | 5m |
/// | [`propagation_rejected_rate`](Self::propagation_rejected_rate) | 1 rejection/s per instance, `for: 10m` |
/// | [`opt_out_factor`](Self::opt_out_factor) | 3× the revocation rate of the day before, over 1h, at least 10 revocations, `for: 15m` |
/// | [`coverage_drop_factor`](Self::coverage_drop_factor) | coverage below 0.8× its value 1d ago, with at least 100 subjects seen, `for: 30m` |
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The service's name: it names the dashboards and goes into their
    /// uids, so several services can share one Grafana. Default: none.
    pub service: Option<String>,
    /// Restricts every alert rule to series with this `job` label.
    /// Default: none (the rules group by `job`, so services do not mix).
    pub job: Option<String>,
    /// The burn-rate alerts of functions with an objective, one alert per
    /// tier (severity). Default: the SRE workbook's three pairs.
    pub burn_rate: Vec<BurnRateTier>,
    /// The error ratio (0..1) above which a function without a success
    /// objective alerts (`FunctionErrorRatioHigh`). Default 0.05.
    pub function_error_ratio: f64,
    /// The window of `FunctionErrorRatioHigh`. Default 5m.
    pub function_error_window: Duration,
    /// The call rate (calls per second) below which a function is idle and
    /// `FunctionErrorRatioHigh` stays silent. Default 0.1.
    pub function_min_call_rate: f64,
    /// `for:` of `FunctionErrorRatioHigh`. Default 5m.
    pub function_error_for: Duration,
    /// The window over which the health alerts look at counters
    /// (`TelemetryExportFailing`, `TelemetryQueueFull`,
    /// `TelemetryPropagationRejected`). Default 5m.
    pub health_window: Duration,
    /// `for:` of `TelemetryExportFailing`. Default 10m.
    pub export_failing_for: Duration,
    /// `for:` of `TelemetryQueueFull`. Default 10m: drops went on for a
    /// while (a single burst shows on the health dashboard).
    pub queue_full_for: Duration,
    /// `for:` of `TelemetryConsentStoreStale`. Default 5m.
    pub consent_stale_for: Duration,
    /// The rejected propagation headers per second (per instance) above
    /// which `TelemetryPropagationRejected` fires. Default 1.
    pub propagation_rejected_rate: f64,
    /// `for:` of `TelemetryPropagationRejected`. Default 10m.
    pub propagation_rejected_for: Duration,
    /// `TelemetryOptOutSpike` fires when the revocation rate over
    /// [`opt_out_window`](Self::opt_out_window) is above this many times
    /// the rate over [`opt_out_baseline`](Self::opt_out_baseline) just
    /// before that window. Default 3.
    pub opt_out_factor: f64,
    /// The window of the current revocation rate. Default 1h.
    pub opt_out_window: Duration,
    /// The window of the baseline revocation rate, which ends where
    /// [`opt_out_window`](Self::opt_out_window) begins. Default 1d.
    pub opt_out_baseline: Duration,
    /// The least number of revocations (of one category) within
    /// [`opt_out_window`](Self::opt_out_window) for `TelemetryOptOutSpike`
    /// to fire. Default 10.
    pub opt_out_min_revocations: f64,
    /// `for:` of `TelemetryOptOutSpike`. Default 15m.
    pub opt_out_for: Duration,
    /// `TelemetryConsentCoverageDrop` fires when a category's consent
    /// coverage across the fleet is below this fraction of what it was
    /// [`coverage_baseline_offset`](Self::coverage_baseline_offset) ago.
    /// Default 0.8.
    pub coverage_drop_factor: f64,
    /// How far back the coverage is compared. Default 1d.
    pub coverage_baseline_offset: Duration,
    /// The least number of subjects seen across the fleet for
    /// `TelemetryConsentCoverageDrop` to fire. Default 100.
    pub coverage_min_subjects: f64,
    /// `for:` of `TelemetryConsentCoverageDrop`. Default 30m.
    pub coverage_for: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            service: None,
            job: None,
            burn_rate: vec![
                BurnRateTier {
                    severity: Severity::Page,
                    windows: vec![
                        BurnWindow {
                            factor: 14.4,
                            long: HOUR,
                            short: 5 * MINUTE,
                        },
                        BurnWindow {
                            factor: 6.0,
                            long: 6 * HOUR,
                            short: 30 * MINUTE,
                        },
                    ],
                    for_: 2 * MINUTE,
                },
                BurnRateTier {
                    severity: Severity::Ticket,
                    windows: vec![BurnWindow {
                        factor: 1.0,
                        long: 3 * DAY,
                        short: 6 * HOUR,
                    }],
                    for_: HOUR,
                },
            ],
            function_error_ratio: 0.05,
            function_error_window: 5 * MINUTE,
            function_min_call_rate: 0.1,
            function_error_for: 5 * MINUTE,
            health_window: 5 * MINUTE,
            export_failing_for: 10 * MINUTE,
            queue_full_for: 10 * MINUTE,
            consent_stale_for: 5 * MINUTE,
            propagation_rejected_rate: 1.0,
            propagation_rejected_for: 10 * MINUTE,
            opt_out_factor: 3.0,
            opt_out_window: HOUR,
            opt_out_baseline: DAY,
            opt_out_min_revocations: 10.0,
            opt_out_for: 15 * MINUTE,
            coverage_drop_factor: 0.8,
            coverage_baseline_offset: DAY,
            coverage_min_subjects: 100.0,
            coverage_for: 30 * MINUTE,
        }
    }
}

impl Options {
    /// Settings for a test against a real Prometheus that scrapes every
    /// second or so: every `for:` is `0s` and every window short (1m for
    /// the health alerts and `FunctionErrorRatioHigh`; burn rates over
    /// 5m/1m, 10m/2m and 30m/5m; opt-outs over 1m against the 10m before;
    /// coverage against 5m ago), so a health alert fires a few scrapes
    /// after its cause. The thresholds are the defaults, except that one
    /// revocation and one subject are enough.
    pub fn for_tests() -> Self {
        Options {
            burn_rate: vec![
                BurnRateTier {
                    severity: Severity::Page,
                    windows: vec![
                        BurnWindow {
                            factor: 14.4,
                            long: 5 * MINUTE,
                            short: MINUTE,
                        },
                        BurnWindow {
                            factor: 6.0,
                            long: 10 * MINUTE,
                            short: 2 * MINUTE,
                        },
                    ],
                    for_: Duration::ZERO,
                },
                BurnRateTier {
                    severity: Severity::Ticket,
                    windows: vec![BurnWindow {
                        factor: 1.0,
                        long: 30 * MINUTE,
                        short: 5 * MINUTE,
                    }],
                    for_: Duration::ZERO,
                },
            ],
            function_error_window: MINUTE,
            function_error_for: Duration::ZERO,
            health_window: MINUTE,
            export_failing_for: Duration::ZERO,
            queue_full_for: Duration::ZERO,
            consent_stale_for: Duration::ZERO,
            propagation_rejected_for: Duration::ZERO,
            opt_out_window: MINUTE,
            opt_out_baseline: 10 * MINUTE,
            opt_out_min_revocations: 1.0,
            opt_out_for: Duration::ZERO,
            coverage_baseline_offset: 5 * MINUTE,
            coverage_min_subjects: 1.0,
            coverage_for: Duration::ZERO,
            ..Options::default()
        }
    }

    /// Every distinct burn-rate window (long and short), shortest first:
    /// one recording rule per window and ratio.
    pub(crate) fn burn_windows(&self) -> Vec<Duration> {
        let mut windows: Vec<Duration> = self
            .burn_rate
            .iter()
            .flat_map(|t| t.windows.iter().flat_map(|w| [w.long, w.short]))
            .collect();
        windows.sort();
        windows.dedup();
        windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_windows_are_distinct_and_sorted() {
        let o = Options::default();
        assert_eq!(
            o.burn_windows(),
            vec![5 * MINUTE, 30 * MINUTE, HOUR, 6 * HOUR, 3 * DAY,]
        );
        assert_eq!(Severity::Page.name(), "page");
    }

    #[test]
    fn test_settings_have_no_for() {
        let o = Options::for_tests();
        assert!(o.burn_rate.iter().all(|t| t.for_.is_zero()));
        assert!(o.export_failing_for.is_zero() && o.consent_stale_for.is_zero());
        assert_eq!(o.health_window, MINUTE);
    }
}
