//! PromQL text shared by the rules, their tests and the dashboards: the
//! metric names the exporter produces, string and number literals,
//! durations, selectors, and the ratios the alerts and panels are built on.

use std::fmt::Write as _;
use std::time::Duration;

/// `function.calls`: a counter with `function`, `module`, `outcome`,
/// `error_type`, `telemetry_category`.
pub const FUNCTION_CALLS: &str = "function_calls_total";
/// `function.duration`: the histogram of sampled calls (buckets).
pub const FUNCTION_DURATION_BUCKET: &str = "function_duration_seconds_bucket";
/// `function.duration`: the histogram's count.
pub const FUNCTION_DURATION_COUNT: &str = "function_duration_seconds_count";
/// `http.server.request.duration`: buckets.
pub const HTTP_SERVER_BUCKET: &str = "http_server_request_duration_seconds_bucket";
/// `http.server.request.duration`: count.
pub const HTTP_SERVER_COUNT: &str = "http_server_request_duration_seconds_count";
/// Records dropped, by `cause` and `telemetry_category`.
pub const RECORDS_DROPPED: &str = "telemetry_records_dropped_total";
/// Failed export attempts.
pub const EXPORT_FAILURES: &str = "telemetry_export_failures_total";
/// Consent grants, by category.
pub const CONSENT_GRANTS: &str = "telemetry_consent_grants_total";
/// Consent revocations, by category.
pub const CONSENT_REVOCATIONS: &str = "telemetry_consent_revocations_total";
/// Deletion requests, by category.
pub const CONSENT_DELETIONS: &str = "telemetry_consent_deletion_requests_total";
/// Subjects seen by one process (sums across replicas).
pub const SUBJECTS_SEEN: &str = "telemetry_consent_subjects_seen";
/// Subjects allowing a category, per process.
pub const SUBJECTS_ALLOWING: &str = "telemetry_consent_subjects_allowing";
/// 1 while a process's view of the shared consent store is stale.
pub const CONSENT_STALE: &str = "telemetry_consent_stale_ratio";
/// Revocations not yet applied.
pub const CONSENT_PENDING_REVOCATIONS: &str = "telemetry_consent_pending_revocations";
/// Subjects in the consent cache.
pub const CONSENT_CACHED_SUBJECTS: &str = "telemetry_consent_cached_subjects";
/// Age of a process's view of the consent store.
pub const CONSENT_VIEW_AGE: &str = "telemetry_consent_view_age_seconds";
/// Propagation headers rejected, by `header` and `reason`.
pub const PROPAGATION_REJECTED: &str = "telemetry_propagation_rejected_total";

/// A PromQL (and Go) double-quoted string literal: `"`, `\` and every
/// character that is not printable in YAML (controls, line and paragraph
/// separators, the byte order mark, non-characters) are escaped, so the
/// literal can go into a YAML block scalar as it is.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if crate::yaml::printable(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A number as PromQL, YAML and a test's values read it: the shortest
/// form, rounded to 12 decimals (so `14.4 * 0.001` prints `0.0144`).
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".to_owned()
        } else if x > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    let rounded = (x * 1e12).round() / 1e12;
    if rounded == 0.0 && x != 0.0 {
        // Too small for 12 decimals: keep it exact.
        return format!("{x:e}");
    }
    let s = format!("{rounded:.12}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A Prometheus duration: the largest unit that divides it (`5m`, `1h`,
/// `3d`, `90s`, `500ms`), `0s` for zero.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("w", 604_800_000u128),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// The value an `le` label has for a histogram bound, as the exporter
/// writes it (`0.25`, `1`).
pub fn le_value(bound: f64) -> String {
    number(bound)
}

/// A label matcher for the bucket of `bound`: exact for a fraction; for a
/// whole number both `1` (as exporters write it) and `1.0` (as Prometheus
/// 3 normalises it).
pub fn le_matcher(bound: f64) -> String {
    let v = le_value(bound);
    if v.contains(['.', 'e']) {
        format!("le={}", string(&v))
    } else {
        format!("le=~{}", string(&format!("{v}|{v}\\.0")))
    }
}

/// A series selector: `metric{matchers}` (or `metric` without any).
pub fn selector(metric: &str, matchers: &[String]) -> String {
    let matchers: Vec<&str> = matchers
        .iter()
        .map(String::as_str)
        .filter(|m| !m.is_empty())
        .collect();
    if matchers.is_empty() {
        metric.to_owned()
    } else {
        format!("{metric}{{{}}}", matchers.join(","))
    }
}

/// `label="value"` with the value quoted.
pub fn eq(label: &str, value: &str) -> String {
    format!("{label}={}", string(value))
}

/// `sum by (labels) (rate(selector[window]))`.
pub fn sum_rate(by: &str, selector: &str, window: &str) -> String {
    format!("sum by ({by}) (rate({selector}[{window}]))")
}

/// `bad / all`, each summed by `by` over `window`: 0 (not absent) where
/// `all` has series and `bad` none.
pub fn ratio_or_zero(by: &str, bad: &str, all: &str, window: &str) -> String {
    let all = sum_rate(by, all, window);
    format!(
        "(\n  {}\n  or\n  {all} * 0\n)\n/\n{all}",
        sum_rate(by, bad, window),
    )
}

/// The ratio of calls whose outcome is not `ok`, by `by`, over `window`:
/// 0 (not absent) when a function had calls and no errors.
///
/// `matchers` select the calls (e.g. `function="x"`).
pub fn error_ratio(by: &str, matchers: &[String], window: &str) -> String {
    let mut errors = matchers.to_vec();
    errors.push("outcome!=\"ok\"".to_owned());
    ratio_or_zero(
        by,
        &selector(FUNCTION_CALLS, &errors),
        &selector(FUNCTION_CALLS, matchers),
        window,
    )
}

/// The ratio of sampled calls slower than `bound` seconds, by `by`, over
/// `window`: `1 - bucket{le=bound} / count`.
pub fn slow_ratio(by: &str, matchers: &[String], bound: f64, window: &str) -> String {
    let mut bucket = matchers.to_vec();
    bucket.push(le_matcher(bound));
    format!(
        "1 - (\n  {}\n  /\n  {}\n)",
        sum_rate(by, &selector(FUNCTION_DURATION_BUCKET, &bucket), window),
        sum_rate(by, &selector(FUNCTION_DURATION_COUNT, matchers), window),
    )
}

/// `histogram_quantile(q, sum by (le, by) (rate(bucket[window])))`.
pub fn quantile(
    q: f64,
    bucket_metric: &str,
    by: &str,
    matchers: &[String],
    window: &str,
) -> String {
    let by = if by.is_empty() {
        "le".to_owned()
    } else {
        format!("le, {by}")
    };
    format!(
        "histogram_quantile({}, {})",
        number(q),
        sum_rate(&by, &selector(bucket_metric, matchers), window)
    )
}

/// The consent coverage of each category across the fleet (a job's
/// replicas): subjects allowing it over subjects seen, both summed over
/// the replicas, `offset` ago if given.
pub fn coverage(matchers: &[String], offset: Option<&str>) -> String {
    let offset = offset.map(|o| format!(" offset {o}")).unwrap_or_default();
    format!(
        "sum by (job, telemetry_category) ({}{offset})\n/ on (job) group_left\nsum by (job) ({}{offset})",
        selector(SUBJECTS_ALLOWING, matchers),
        selector(SUBJECTS_SEEN, matchers),
    )
}

/// Indents every line but the first by `n` spaces (to nest an expression).
pub fn indent(expr: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    expr.replace('\n', &format!("\n{pad}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(string("a.b"), "\"a.b\"");
        assert_eq!(string("q\"b\\s"), "\"q\\\"b\\\\s\"");
        assert_eq!(string("n\nl\u{2028}x\u{7f}"), "\"n\\nl\\u2028x\\u007f\"");
        assert_eq!(string("café 🚀"), "\"café 🚀\"");
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(number(14.4 * 0.001), "0.0144");
        assert_eq!(number(6.0), "6");
        assert_eq!(number((100.0 - 99.9) / 100.0), "0.001");
        assert_eq!(number(0.0005), "0.0005");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(1e-15), "1e-15");
        assert_eq!(duration(Duration::from_secs(300)), "5m");
        assert_eq!(duration(Duration::from_secs(3 * 86_400)), "3d");
        assert_eq!(duration(Duration::from_secs(90)), "90s");
        assert_eq!(duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_secs(14 * 86_400)), "2w");
    }

    #[test]
    fn le_matchers() {
        assert_eq!(le_matcher(0.25), "le=\"0.25\"");
        assert_eq!(le_matcher(1.0), "le=~\"1|1\\\\.0\"");
        assert_eq!(le_matcher(0.0005), "le=\"0.0005\"");
    }

    #[test]
    fn ratios() {
        let m = [eq("function", "f")];
        let e = error_ratio("job, function", &m, "5m");
        assert!(e.contains("function_calls_total{function=\"f\",outcome!=\"ok\"}[5m]"));
        assert!(e.contains("* 0"));
        let s = slow_ratio("job, function", &m, 0.25, "1h");
        assert!(s.contains("function_duration_seconds_bucket{function=\"f\",le=\"0.25\"}[1h]"));
        assert_eq!(selector("m", &[]), "m");
    }
}
