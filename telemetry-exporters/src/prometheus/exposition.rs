//! The exposition: metric data as the Prometheus text format (0.0.4) or
//! OpenMetrics 1.0 (which adds exemplars), families merged by name.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use telemetry_core::export::{
    Attribute, CategoryNames, Exemplar, MetricData, MetricPoints, Number, Resource, keys,
    unix_nanos,
};

use super::names::{FamilyKind, family, label};

/// Which exposition format to write.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4 (no exemplars).
    Text,
    /// OpenMetrics 1.0 text, with exemplars linking counters and histogram
    /// buckets to traces.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a scraper asks for in its `Accept` header: OpenMetrics
    /// when it lists `application/openmetrics-text` (as Prometheus does),
    /// else the text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }
}

/// One sample line: the name suffix, the labels, the value and, in
/// OpenMetrics, its exemplar.
struct Sample {
    suffix: &'static str,
    labels: String,
    value: String,
    exemplar: Option<Exemplar>,
}

/// One family: everything written under one `# TYPE`.
struct Family {
    kind: FamilyKind,
    help: String,
    samples: Vec<Sample>,
}

/// A label value, escaped (`\`, `"` and newlines).
fn escape_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text, escaped (`\` and newlines).
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

/// `{k="v",…}` from the point's attributes, plus `telemetry_category`
/// when the point names none (as the OTLP exporter does), plus `extra`.
fn labels(attributes: &[Attribute], category: &str, extra: Option<(&str, &str)>) -> String {
    let mut pairs: Vec<(String, String)> = attributes
        .iter()
        .map(|a| (label(&a.key), a.value.render().into_owned()))
        .collect();
    if !attributes.iter().any(|a| a.key == keys::CATEGORY) {
        pairs.push((label(keys::CATEGORY), category.to_owned()));
    }
    // Two keys that sanitize to one name: the first wins.
    let mut seen = std::collections::HashSet::new();
    pairs.retain(|(k, _)| seen.insert(k.clone()));
    let mut out = String::from("{");
    let mut first = true;
    for (k, v) in pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra)
    {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_value(v, &mut out);
        out.push('"');
    }
    out.push('}');
    out
}

fn number_value(n: Number) -> String {
    match n {
        Number::I64(i) => i.to_string(),
        Number::F64(f) => number(f),
    }
}

/// Adds `m` to its family (a family already holding another kind keeps
/// it; the metric is left out).
fn add(families: &mut BTreeMap<String, Family>, m: &MetricData, names: &CategoryNames) {
    let category = names.name(m.category);
    let kind = match &m.points {
        MetricPoints::Sum {
            monotonic: true, ..
        } => FamilyKind::Counter,
        MetricPoints::Sum { .. } | MetricPoints::Gauge { .. } => FamilyKind::Gauge,
        MetricPoints::Histogram { .. } => FamilyKind::Histogram,
    };
    let name = family(&m.name, &m.unit, kind);
    let entry = families.entry(name).or_insert_with(|| Family {
        kind,
        help: escape_help(&m.description),
        samples: Vec::new(),
    });
    if entry.kind != kind {
        return;
    }
    match &m.points {
        MetricPoints::Sum { points, .. } | MetricPoints::Gauge { points } => {
            for p in points {
                entry.samples.push(Sample {
                    suffix: if kind == FamilyKind::Counter {
                        "_total"
                    } else {
                        ""
                    },
                    labels: labels(&p.attributes, &category, None),
                    value: number_value(p.value),
                    exemplar: p.exemplars.last().copied(),
                });
            }
        }
        MetricPoints::Histogram { points, .. } => {
            for p in points {
                // The exemplar goes on the bucket its value fell into.
                let exemplar = p.exemplars.last().copied();
                let home = exemplar.map(|e| p.bounds.partition_point(|b| *b < e.value));
                let mut cumulative = 0u64;
                for (i, count) in p.bucket_counts.iter().enumerate() {
                    cumulative = cumulative.saturating_add(*count);
                    let le = p
                        .bounds
                        .get(i)
                        .map_or_else(|| "+Inf".to_owned(), |b| number(*b));
                    entry.samples.push(Sample {
                        suffix: "_bucket",
                        labels: labels(&p.attributes, &category, Some(("le", &le))),
                        value: cumulative.to_string(),
                        exemplar: exemplar.filter(|_| home == Some(i)),
                    });
                }
                let plain = labels(&p.attributes, &category, None);
                entry.samples.push(Sample {
                    suffix: "_sum",
                    labels: plain.clone(),
                    value: number(p.sum),
                    exemplar: None,
                });
                entry.samples.push(Sample {
                    suffix: "_count",
                    labels: plain,
                    value: p.count.to_string(),
                    exemplar: None,
                });
            }
        }
    }
}

fn seconds(t: SystemTime) -> String {
    let nanos = unix_nanos(t);
    format!(
        "{}.{:03}",
        nanos / 1_000_000_000,
        (nanos % 1_000_000_000) / 1_000_000
    )
}

/// Writes `metrics` and the resource's `target_info` in `format`.
pub(crate) fn render(
    metrics: &[MetricData],
    resource: &Resource,
    names: &CategoryNames,
    format: Format,
) -> String {
    let mut families = BTreeMap::new();
    for m in metrics {
        add(&mut families, m, names);
    }
    let mut out = String::with_capacity(256 + metrics.len() * 256);
    // The resource, as OpenTelemetry's `target_info`.
    let info = resource
        .attributes()
        .iter()
        .map(|a| (label(&a.key), a.value.render().into_owned()))
        .collect::<Vec<_>>();
    let _ = writeln!(out, "# HELP target_info Target metadata");
    let _ = writeln!(
        out,
        "# TYPE target_info {}",
        match format {
            Format::Text => "gauge",
            Format::OpenMetrics => "info",
        }
    );
    let mut info_labels = String::from("{");
    for (i, (k, v)) in info.iter().enumerate() {
        if i > 0 {
            info_labels.push(',');
        }
        info_labels.push_str(k);
        info_labels.push_str("=\"");
        escape_value(v, &mut info_labels);
        info_labels.push('"');
    }
    info_labels.push('}');
    let _ = writeln!(out, "target_info{info_labels} 1");
    for (name, f) in &families {
        if f.samples.is_empty() {
            continue;
        }
        let type_name = match f.kind {
            FamilyKind::Counter => "counter",
            FamilyKind::Gauge => "gauge",
            FamilyKind::Histogram => "histogram",
        };
        // The text format names a counter family with its `_total`.
        let declared = match (format, f.kind) {
            (Format::Text, FamilyKind::Counter) => format!("{name}_total"),
            _ => name.clone(),
        };
        let _ = writeln!(out, "# HELP {declared} {}", f.help);
        let _ = writeln!(out, "# TYPE {declared} {type_name}");
        for s in &f.samples {
            let _ = write!(out, "{name}{}{} {}", s.suffix, s.labels, s.value);
            if let (Format::OpenMetrics, Some(e)) = (format, s.exemplar) {
                let _ = write!(
                    out,
                    " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {}",
                    e.trace_id,
                    e.span_id,
                    number(e.value),
                    seconds(e.time)
                );
            }
            out.push('\n');
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}
