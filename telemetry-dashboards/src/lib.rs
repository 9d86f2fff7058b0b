//! # telemetry-dashboards
//!
//! Monitoring for a service instrumented with [`telemetry_core`],
//! generated from its catalogue: the Prometheus alert rules, the promtool
//! unit tests of those rules, and the Grafana dashboards. Every
//! instrumented function records into the same metric families
//! (`function_calls_total`, `function_duration_seconds`), so the output
//! follows the code: a new function, or a new objective declared with
//! `#[instrument_event(objective(success = 99.9, latency_ms = 250))]`,
//! gets its alerts and panels at the next generation.
//!
//! ```no_run
//! use telemetry_core::catalogue::Catalogue;
//! use telemetry_dashboards::{FunctionInfo, Options};
//!
//! # fn main() -> std::io::Result<()> {
//! // In a test or a small binary of the service, which links every
//! // instrumented function:
//! let functions = FunctionInfo::from_catalogue(&Catalogue::collect());
//! let written = telemetry_dashboards::write_dir(&functions, &Options::default(), "monitoring".as_ref())?;
//! // Then: promtool test rules monitoring/rules/telemetry-rules.test.yml
//! println!("{}", written.rules.display());
//! # Ok(()) }
//! ```
//!
//! ## What it generates
//!
//! - **Alert rules** ([`rules_yaml`]), in four kinds of groups:
//!   - per function with an objective: multi-window, multi-burn-rate
//!     alerts (Google SRE workbook) on its error ratio
//!     (`FunctionErrorBudgetBurn`) and its ratio of calls slower than the
//!     threshold (`FunctionLatencyBudgetBurn`): `severity="page"` at 14.4×
//!     the budget over 1h and 5m or 6× over 6h and 30m, `"ticket"` at 1×
//!     over 3d and 6h, on recording rules of the ratios per window;
//!   - per function without a success objective: `FunctionErrorRatioHigh`,
//!     an error ratio above 5 % while the function is not idle;
//!   - the library's health: `TelemetryExportFailing`,
//!     `TelemetryQueueFull`, `TelemetryConsentStoreStale`,
//!     `TelemetryPropagationRejected`;
//!   - privacy: `TelemetryOptOutSpike` (revocations far above their own
//!     baseline) and `TelemetryConsentCoverageDrop` (a category's fleet
//!     coverage well below what it was a day ago).
//! - **Rule tests** ([`rule_tests_yaml`]) for `promtool test rules`: for
//!   every alert, series that make it fire and healthy series that keep
//!   it silent.
//! - **Dashboards** ([`dashboards`]) for Grafana's file provisioning:
//!   service overview, consent and privacy, telemetry health.
//!
//! Every window, threshold and `for:` is in [`Options`];
//! [`Options::for_tests`] makes the health alerts fire within seconds of
//! their cause. [`alert_rules`], [`panel_queries`], [`substitute`] and
//! [`select_all_variables`] give the expressions, to run them against a
//! real Prometheus.
//!
//! ## Crate features
//!
//! None: it depends on `telemetry-core` (for the catalogue) and
//! `serde_json` only, and writes YAML itself.

mod dashboards;
mod grafana;
mod input;
mod options;
mod promql;
mod rule_tests;
mod rules;
mod template;
mod write;
mod yaml;

pub use dashboards::dashboards;
pub use grafana::{Dashboard, panel_queries, select_all_variables, substitute};
pub use input::{DEFAULT_LATENCY_PERCENTILE, FunctionInfo, LatencyObjective};
pub use options::{BurnRateTier, BurnWindow, Options, Severity};
pub use rule_tests::{RULES_FILE_NAME, rule_tests_yaml};
pub use rules::{
    AlertRule, FUNCTION_ERROR_BUDGET_BURN, FUNCTION_ERROR_RATIO_HIGH, FUNCTION_LATENCY_BUDGET_BURN,
    TELEMETRY_CONSENT_COVERAGE_DROP, TELEMETRY_CONSENT_STORE_STALE, TELEMETRY_EXPORT_FAILING,
    TELEMETRY_OPT_OUT_SPIKE, TELEMETRY_PROPAGATION_REJECTED, TELEMETRY_QUEUE_FULL, alert_rules,
    rules_yaml,
};
pub use telemetry_core::catalogue::Objective;
pub use write::{DASHBOARDS_DIR, RULE_TESTS_PATH, RULES_PATH, Written, write_dir};
