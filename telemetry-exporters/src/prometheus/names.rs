//! OpenTelemetry names as Prometheus names, by OpenTelemetry's Prometheus
//! compatibility rules (the same names an OpenTelemetry Collector's
//! Prometheus exporter gives the same data): characters outside
//! `[a-zA-Z0-9_:]` become `_`, runs of `_` shrink to one, the unit becomes a
//! suffix (`s` → `_seconds`, `By` → `_bytes`, `{call}` → nothing), a
//! counter ends in `_total`, and a gauge of unit `1` in `_ratio`.

/// What kind of Prometheus family a metric becomes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum FamilyKind {
    Counter,
    Gauge,
    Histogram,
}

/// `name` with every character outside `[a-zA-Z0-9_:]` (`:` only in
/// metric names) as `_`, runs of `_` as one, and a leading digit escaped.
pub(crate) fn sanitize(name: &str, colons: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in name.chars() {
        let keep = c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
        let c = if keep { c } else { '_' };
        // Runs collapse (so no name starts with the reserved `__` either).
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// A label name: like a metric name without `:` (borrowed when the key
/// is one already, as most are).
pub(crate) fn label(key: &str) -> std::borrow::Cow<'_, str> {
    let valid = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.contains("__");
    if valid {
        std::borrow::Cow::Borrowed(key)
    } else {
        std::borrow::Cow::Owned(sanitize(key, false))
    }
}

/// The unit as a name suffix (empty for none or an annotation only).
fn unit_suffix(unit: &str, kind: FamilyKind) -> String {
    // `{request}`, `{call}`: annotations, no unit.
    let unit = match unit.find('{') {
        Some(i) => unit.get(..i).unwrap_or(""),
        None => unit,
    }
    .trim();
    if unit.is_empty() {
        return String::new();
    }
    if unit == "1" {
        return if kind == FamilyKind::Gauge {
            "ratio".to_owned()
        } else {
            String::new()
        };
    }
    let word = |u: &str| -> String {
        match u {
            "d" => "days",
            "h" => "hours",
            "min" => "minutes",
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "By" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "TiBy" => "tibibytes",
            "KBy" => "kilobytes",
            "MBy" => "megabytes",
            "GBy" => "gigabytes",
            "TBy" => "terabytes",
            "m" => "meters",
            "V" => "volts",
            "A" => "amperes",
            "J" => "joules",
            "W" => "watts",
            "g" => "grams",
            "Cel" => "celsius",
            "Hz" => "hertz",
            "%" => "percent",
            other => other,
        }
        .to_owned()
    };
    let per = |u: &str| -> String {
        match u {
            "s" => "second",
            "m" => "minute",
            "h" => "hour",
            "d" => "day",
            "w" => "week",
            "mo" => "month",
            "y" => "year",
            other => other,
        }
        .to_owned()
    };
    let text = match unit.split_once('/') {
        Some((a, b)) if !a.is_empty() => format!("{}_per_{}", word(a), per(b)),
        Some((_, b)) => format!("per_{}", per(b)),
        None => word(unit),
    };
    sanitize(&text, false).trim_matches('_').to_owned()
}

/// The Prometheus family name of metric `name` with `unit` (without the
/// `_total`, `_bucket`, … sample suffixes).
pub(crate) fn family(name: &str, unit: &str, kind: FamilyKind) -> String {
    let mut out = sanitize(name, true);
    let suffix = unit_suffix(unit, kind);
    if !suffix.is_empty() && !out.ends_with(&format!("_{suffix}")) && out != suffix {
        out.push('_');
        out.push_str(&suffix);
    }
    if kind == FamilyKind::Counter
        && let Some(stripped) = out.strip_suffix("_total")
    {
        // The `_total` is the counter sample's own suffix.
        out = stripped.to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_compatibility_rules() {
        assert_eq!(
            family("function.duration", "s", FamilyKind::Histogram),
            "function_duration_seconds"
        );
        assert_eq!(
            family("function.calls", "{call}", FamilyKind::Counter),
            "function_calls"
        );
        assert_eq!(
            family("process.memory.usage", "By", FamilyKind::Gauge),
            "process_memory_usage_bytes"
        );
        assert_eq!(
            family("process.cpu.utilization", "1", FamilyKind::Gauge),
            "process_cpu_utilization_ratio"
        );
        assert_eq!(family("hits", "1", FamilyKind::Counter), "hits");
        assert_eq!(
            family("requests_total", "", FamilyKind::Counter),
            "requests"
        );
        assert_eq!(
            family("net.io", "By/s", FamilyKind::Gauge),
            "net_io_bytes_per_second"
        );
        assert_eq!(
            family("latency_seconds", "s", FamilyKind::Gauge),
            "latency_seconds"
        );
        assert_eq!(family("9lives", "", FamilyKind::Gauge), "_9lives");
        assert_eq!(family("a..b--c", "", FamilyKind::Gauge), "a_b_c");
        assert_eq!(family("ns:thing", "", FamilyKind::Gauge), "ns:thing");
        assert_eq!(label("telemetry.category"), "telemetry_category");
        assert_eq!(label("ns:thing"), "ns_thing");
        assert_eq!(label("ü"), "_");
    }
}
