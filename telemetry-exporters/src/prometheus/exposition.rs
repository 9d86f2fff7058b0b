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

/// A sample's value.
#[derive(Copy, Clone)]
enum SampleValue {
    Int(i64),
    Count(u64),
    Float(f64),
}

/// One sample line: the name suffix, the series' labels (an index into
/// the family's label sets, written once per series, not per bucket), the
/// bucket bound, the value and, in OpenMetrics, its exemplar.
struct Sample {
    suffix: &'static str,
    labels: usize,
    le: Option<f64>,
    value: SampleValue,
    exemplar: Option<Exemplar>,
}

/// One family: everything written under one `# TYPE`.
struct Family<'a> {
    kind: FamilyKind,
    help: &'a str,
    /// `k="v",…` of each series, without braces.
    label_sets: Vec<String>,
    samples: Vec<Sample>,
}

/// A label value, escaped (`\`, `"` and newlines).
fn escape_value(v: &str, out: &mut String) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
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
fn write_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_number(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes `k="v",…` for the point's attributes, plus `telemetry_category`
/// when the point names none (as the OTLP exporter does). Keys are
/// sanitized; of two keys that sanitize to one name, the first is kept.
fn write_labels<'k>(attributes: &'k [Attribute], category: &str, out: &mut String) {
    let mut written: Vec<std::borrow::Cow<'k, str>> = Vec::with_capacity(attributes.len() + 1);
    let mut pair = |key: std::borrow::Cow<'k, str>, value: &str, out: &mut String| {
        if written.contains(&key) {
            return;
        }
        if !written.is_empty() {
            out.push(',');
        }
        out.push_str(&key);
        out.push_str("=\"");
        escape_value(value, out);
        out.push('"');
        written.push(key);
    };
    for a in attributes {
        pair(label(&a.key), &a.value.render(), out);
    }
    if !attributes.iter().any(|a| a.key == keys::CATEGORY) {
        pair(label(keys::CATEGORY), category, out);
    }
}

/// Adds `m` to its family (a family already holding another kind keeps
/// it; the metric is left out).
fn add<'a>(families: &mut BTreeMap<String, Family<'a>>, m: &'a MetricData, names: &CategoryNames) {
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
        help: &m.description,
        label_sets: Vec::new(),
        samples: Vec::new(),
    });
    if entry.kind != kind {
        return;
    }
    let label_set = |attributes: &[Attribute], entry: &mut Family<'a>| {
        let mut set = String::with_capacity(64);
        write_labels(attributes, &category, &mut set);
        entry.label_sets.push(set);
        entry.label_sets.len() - 1
    };
    match &m.points {
        MetricPoints::Sum { points, .. } | MetricPoints::Gauge { points } => {
            for p in points {
                let labels = label_set(&p.attributes, entry);
                entry.samples.push(Sample {
                    suffix: if kind == FamilyKind::Counter {
                        "_total"
                    } else {
                        ""
                    },
                    labels,
                    le: None,
                    value: match p.value {
                        Number::I64(i) => SampleValue::Int(i),
                        Number::F64(f) => SampleValue::Float(f),
                    },
                    exemplar: p.exemplars.last().copied(),
                });
            }
        }
        MetricPoints::Histogram { points, .. } => {
            for p in points {
                let labels = label_set(&p.attributes, entry);
                // The exemplar goes on the bucket its value fell into.
                let exemplar = p.exemplars.last().copied();
                let home = exemplar.map(|e| p.bounds.partition_point(|b| *b < e.value));
                let mut cumulative = 0u64;
                for (i, count) in p.bucket_counts.iter().enumerate() {
                    cumulative = cumulative.saturating_add(*count);
                    entry.samples.push(Sample {
                        suffix: "_bucket",
                        labels,
                        le: Some(p.bounds.get(i).copied().unwrap_or(f64::INFINITY)),
                        value: SampleValue::Count(cumulative),
                        exemplar: exemplar.filter(|_| home == Some(i)),
                    });
                }
                entry.samples.push(Sample {
                    suffix: "_sum",
                    labels,
                    le: None,
                    value: SampleValue::Float(p.sum),
                    exemplar: None,
                });
                entry.samples.push(Sample {
                    suffix: "_count",
                    labels,
                    le: None,
                    value: SampleValue::Count(p.count),
                    exemplar: None,
                });
            }
        }
    }
}

fn write_seconds(t: SystemTime, out: &mut String) {
    let nanos = unix_nanos(t);
    let _ = write!(
        out,
        "{}.{:03}",
        nanos / 1_000_000_000,
        (nanos % 1_000_000_000) / 1_000_000
    );
}

/// Writes one sample line.
fn write_sample(name: &str, f: &Family<'_>, s: &Sample, format: Format, out: &mut String) {
    out.push_str(name);
    out.push_str(s.suffix);
    out.push('{');
    let set = f.label_sets.get(s.labels).map_or("", String::as_str);
    out.push_str(set);
    if let Some(le) = s.le {
        if !set.is_empty() {
            out.push(',');
        }
        out.push_str("le=\"");
        write_number(le, out);
        out.push('"');
    }
    out.push_str("} ");
    match s.value {
        SampleValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        SampleValue::Count(c) => {
            let _ = write!(out, "{c}");
        }
        SampleValue::Float(v) => write_number(v, out),
    }
    if let (Format::OpenMetrics, Some(e)) = (format, s.exemplar) {
        let _ = write!(
            out,
            " # {{trace_id=\"{}\",span_id=\"{}\"}} ",
            e.trace_id, e.span_id
        );
        write_number(e.value, out);
        out.push(' ');
        write_seconds(e.time, out);
    }
    out.push('\n');
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
    let mut out = String::with_capacity(
        256 + families
            .values()
            .map(|f| f.samples.len() * 96)
            .sum::<usize>(),
    );
    // The resource, as OpenTelemetry's `target_info`.
    out.push_str("# HELP target_info Target metadata\n# TYPE target_info ");
    out.push_str(match format {
        Format::Text => "gauge",
        Format::OpenMetrics => "info",
    });
    out.push_str("\ntarget_info{");
    for (i, a) in resource.attributes().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&label(&a.key));
        out.push_str("=\"");
        escape_value(&a.value.render(), &mut out);
        out.push('"');
    }
    out.push_str("} 1\n");
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
        let total = match (format, f.kind) {
            (Format::Text, FamilyKind::Counter) => "_total",
            _ => "",
        };
        let _ = write!(out, "# HELP {name}{total} ");
        write_help(f.help, &mut out);
        let _ = writeln!(out, "\n# TYPE {name}{total} {type_name}");
        for s in &f.samples {
            write_sample(name, f, s, format, &mut out);
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}
