//! Reading back NaN and infinite doubles.
//!
//! The encoder writes a NaN or infinite double as the proto3 JSON mapping
//! does, as the string `"NaN"`, `"Infinity"` or `"-Infinity"`: that is what
//! the Collector reads, and it keeps the value. `opentelemetry-proto`
//! 0.33's serde types accept those strings only for a summary's quantiles;
//! every other double field (`doubleValue`, `asDouble`, a histogram's `sum`,
//! `min`, `max` and `explicitBounds`, ...) takes only numbers. One such
//! string fails the whole line, or worse, where it sits under one of the
//! types' flattened `Option`s (`asDouble`, a metric's data), leaves that
//! option silently empty: a gauge point without its value, a histogram
//! without its data.
//!
//! So a line that holds one of those strings in a double field is parsed as
//! a JSON tree in which each of them is replaced by a stand-in: a finite
//! number that occurs nowhere in the line, one for NaN and one for each
//! infinity. The tree then becomes the request, and the stand-ins are
//! turned back into NaN and the infinities. Every other field is read as
//! usual. (Serde's `flatten`, used for `doubleValue` and `asDouble`, rules
//! out doing this in a wrapping deserializer.)

use std::collections::HashSet;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, NumberDataPoint, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Number, Value};

use super::reader::AnyRequest;

/// Fields the OTLP messages type as a double that `opentelemetry-proto`
/// reads only from a number (`explicitBounds`, a list, is handled apart).
const DOUBLE_FIELDS: [&str; 6] = [
    "doubleValue",
    "asDouble",
    "sum",
    "min",
    "max",
    "zeroThreshold",
];

/// Where the stand-ins start: finite doubles near 9.2e307, unlikely values.
const STAND_IN_BITS: u64 = 0x7fe0_5eed_0000_0000;

/// Parses `line` with its non-finite doubles replaced by stand-ins; `None`
/// if it holds no non-finite string in a double field, or is not JSON:
/// then the plain parse applies (and reports the syntax error).
pub(super) fn parse(line: &str) -> Option<Result<AnyRequest, serde_json::Error>> {
    if !(line.contains("\"NaN\"") || line.contains("Infinity\"")) {
        return None;
    }
    let mut tree: Value = serde_json::from_str(line).ok()?;
    let stand_ins = StandIns::avoiding(&tree);
    if stand_ins.replace(&mut tree) == 0 {
        return None;
    }
    Some(serde_json::from_value(tree).map(|mut request| {
        stand_ins.restore_request(&mut request);
        request
    }))
}

/// Three finite doubles standing for NaN, +∞ and -∞ while parsing.
struct StandIns {
    nan: f64,
    infinity: f64,
    neg_infinity: f64,
}

impl StandIns {
    /// Stand-ins equal to no number in `tree` (nor to any string that
    /// parses as one, which a quantile may be read from).
    fn avoiding(tree: &Value) -> StandIns {
        let mut used = HashSet::new();
        collect_numbers(tree, &mut used);
        let triple = |k: u64| {
            let bits = STAND_IN_BITS + 3 * k;
            [bits, bits + 1, bits + 2]
        };
        // Of `used.len() + 1` disjoint triples, one is free.
        let k = (0..=used.len() as u64)
            .find(|&k| triple(k).iter().all(|b| !used.contains(b)))
            .unwrap_or(0);
        let [nan, infinity, neg_infinity] = triple(k).map(f64::from_bits);
        StandIns {
            nan,
            infinity,
            neg_infinity,
        }
    }

    /// The stand-in for `value` if it is one of the proto3 JSON strings.
    fn stand_in(&self, value: &Value) -> Option<Value> {
        let d = match value.as_str()? {
            "NaN" => self.nan,
            "Infinity" => self.infinity,
            "-Infinity" => self.neg_infinity,
            _ => return None,
        };
        Number::from_f64(d).map(Value::Number)
    }

    /// Replaces the non-finite strings of double fields; how many.
    fn replace(&self, tree: &mut Value) -> usize {
        let mut swap = |v: &mut Value| match self.stand_in(v) {
            Some(n) => {
                *v = n;
                1
            }
            None => 0,
        };
        match tree {
            Value::Object(fields) => {
                let mut n = 0;
                for (key, v) in fields.iter_mut() {
                    if DOUBLE_FIELDS.contains(&key.as_str()) && swap(v) == 1 {
                        n += 1;
                    } else if let (true, Value::Array(items)) = (key == "explicitBounds", &mut *v) {
                        n += items.iter_mut().map(&mut swap).sum::<usize>();
                    } else {
                        n += self.replace(v);
                    }
                }
                n
            }
            Value::Array(items) => items.iter_mut().map(|v| self.replace(v)).sum(),
            _ => 0,
        }
    }

    fn restore(&self, d: &mut f64) {
        let bits = d.to_bits();
        if bits == self.nan.to_bits() {
            *d = f64::NAN;
        } else if bits == self.infinity.to_bits() {
            *d = f64::INFINITY;
        } else if bits == self.neg_infinity.to_bits() {
            *d = f64::NEG_INFINITY;
        }
    }

    fn restore_opt(&self, d: &mut Option<f64>) {
        if let Some(d) = d {
            self.restore(d);
        }
    }

    /// Restores every double of the request: every place a double field
    /// of [`DOUBLE_FIELDS`] or `explicitBounds` can be read into.
    fn restore_request(&self, r: &mut AnyRequest) {
        for rs in r.resource_spans.iter_mut().flatten() {
            self.resource(&mut rs.resource);
            for ss in &mut rs.scope_spans {
                self.scope(&mut ss.scope);
                for span in &mut ss.spans {
                    self.attributes(&mut span.attributes);
                    for e in &mut span.events {
                        self.attributes(&mut e.attributes);
                    }
                    for l in &mut span.links {
                        self.attributes(&mut l.attributes);
                    }
                }
            }
        }
        for rl in r.resource_logs.iter_mut().flatten() {
            self.resource(&mut rl.resource);
            for sl in &mut rl.scope_logs {
                self.scope(&mut sl.scope);
                for log in &mut sl.log_records {
                    if let Some(body) = &mut log.body {
                        self.any_value(body);
                    }
                    self.attributes(&mut log.attributes);
                }
            }
        }
        for rm in r.resource_metrics.iter_mut().flatten() {
            self.resource(&mut rm.resource);
            for sm in &mut rm.scope_metrics {
                self.scope(&mut sm.scope);
                for m in &mut sm.metrics {
                    self.attributes(&mut m.metadata);
                    self.metric_data(m.data.as_mut());
                }
            }
        }
    }

    fn metric_data(&self, data: Option<&mut metric::Data>) {
        match data {
            Some(metric::Data::Gauge(g)) => self.number_points(&mut g.data_points),
            Some(metric::Data::Sum(s)) => self.number_points(&mut s.data_points),
            Some(metric::Data::Histogram(h)) => {
                for p in &mut h.data_points {
                    self.attributes(&mut p.attributes);
                    self.restore_opt(&mut p.sum);
                    self.restore_opt(&mut p.min);
                    self.restore_opt(&mut p.max);
                    p.explicit_bounds.iter_mut().for_each(|b| self.restore(b));
                    self.exemplars(&mut p.exemplars);
                }
            }
            Some(metric::Data::ExponentialHistogram(h)) => {
                for p in &mut h.data_points {
                    self.attributes(&mut p.attributes);
                    self.restore_opt(&mut p.sum);
                    self.restore_opt(&mut p.min);
                    self.restore_opt(&mut p.max);
                    self.restore(&mut p.zero_threshold);
                    self.exemplars(&mut p.exemplars);
                }
            }
            Some(metric::Data::Summary(s)) => {
                for p in &mut s.data_points {
                    self.attributes(&mut p.attributes);
                    self.restore(&mut p.sum);
                }
            }
            None => {}
        }
    }

    fn number_points(&self, points: &mut [NumberDataPoint]) {
        for p in points {
            self.attributes(&mut p.attributes);
            if let Some(number_data_point::Value::AsDouble(d)) = &mut p.value {
                self.restore(d);
            }
            self.exemplars(&mut p.exemplars);
        }
    }

    fn exemplars(&self, exemplars: &mut [Exemplar]) {
        for e in exemplars {
            self.attributes(&mut e.filtered_attributes);
            if let Some(exemplar::Value::AsDouble(d)) = &mut e.value {
                self.restore(d);
            }
        }
    }

    fn resource(&self, resource: &mut Option<Resource>) {
        if let Some(r) = resource {
            self.attributes(&mut r.attributes);
        }
    }

    fn scope(&self, scope: &mut Option<InstrumentationScope>) {
        if let Some(s) = scope {
            self.attributes(&mut s.attributes);
        }
    }

    fn attributes(&self, attributes: &mut [KeyValue]) {
        for kv in attributes {
            if let Some(v) = &mut kv.value {
                self.any_value(v);
            }
        }
    }

    /// Depth is bounded: `serde_json` parsed the line with its recursion
    /// limit.
    fn any_value(&self, value: &mut AnyValue) {
        match &mut value.value {
            Some(any_value::Value::DoubleValue(d)) => self.restore(d),
            Some(any_value::Value::ArrayValue(a)) => {
                a.values.iter_mut().for_each(|v| self.any_value(v));
            }
            Some(any_value::Value::KvlistValue(kv)) => self.attributes(&mut kv.values),
            _ => {}
        }
    }
}

/// The bits of every number in `tree`, and of every string that parses as
/// a double.
fn collect_numbers(tree: &Value, used: &mut HashSet<u64>) {
    match tree {
        Value::Number(n) => {
            if let Some(d) = n.as_f64() {
                used.insert(d.to_bits());
            }
        }
        Value::String(s) => {
            if let Ok(d) = s.parse::<f64>() {
                used.insert(d.to_bits());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_numbers(v, used)),
        Value::Object(fields) => fields.values().for_each(|v| collect_numbers(v, used)),
        Value::Null | Value::Bool(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{ExportRequest, parse_line};

    fn first_double(line: &str) -> f64 {
        let Ok(ExportRequest::Logs(l)) = parse_line(line) else {
            panic!("{line}: {:?}", parse_line(line));
        };
        let kv = &l.resource_logs[0].scope_logs[0].log_records[0].attributes;
        match kv
            .iter()
            .find(|kv| kv.key == "x")
            .and_then(|kv| kv.value.clone()?.value)
        {
            Some(any_value::Value::DoubleValue(d)) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stand_ins_avoid_the_numbers_in_the_line() {
        let taken = f64::from_bits(STAND_IN_BITS);
        let also = f64::from_bits(STAND_IN_BITS + 4);
        let line = format!(
            r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"attributes":[
                {{"key":"x","value":{{"doubleValue":"NaN"}}}},
                {{"key":"y","value":{{"doubleValue":{taken:e}}}}},
                {{"key":"z","value":{{"stringValue":"{also:e}"}}}}]}}]}}]}}]}}"#
        );
        let tree: Value = serde_json::from_str(&line).unwrap();
        let s = StandIns::avoiding(&tree);
        assert_eq!(s.nan.to_bits(), STAND_IN_BITS + 6);
        assert!(first_double(&line).is_nan());
        let Ok(ExportRequest::Logs(l)) = parse_line(&line) else {
            panic!()
        };
        let y = &l.resource_logs[0].scope_logs[0].log_records[0].attributes[1];
        assert_eq!(
            y.value.clone().unwrap().value,
            Some(any_value::Value::DoubleValue(taken)),
            "a number equal to a first-choice stand-in is left alone"
        );
    }

    #[test]
    fn only_double_fields_are_read_as_doubles() {
        // "NaN" as a string value stays a string; a double field with
        // another string is still an error.
        let line = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"NaN"},"attributes":[{"key":"x","value":{"doubleValue":"-Infinity"}}]}]}]}]}"#;
        let Ok(ExportRequest::Logs(l)) = parse_line(line) else {
            panic!()
        };
        let rec = &l.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(
            rec.body.clone().unwrap().value,
            Some(any_value::Value::StringValue("NaN".into()))
        );
        assert_eq!(first_double(line), f64::NEG_INFINITY);
        let bad = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"x","value":{"doubleValue":"nan"}},{"key":"y","value":{"doubleValue":"NaN"}}]}]}]}]}"#;
        assert!(parse_line(bad).is_err());
    }

    /// Every place a double field can be, in each signal: each holds NaN,
    /// +∞ or -∞ once, and reads back as such.
    #[test]
    fn every_double_field_reads_back() {
        const N: &str = r#"{"key":"n","value":{"doubleValue":"NaN"}}"#;
        const P: &str = r#"{"key":"p","value":{"doubleValue":"Infinity"}}"#;
        const M: &str = r#"{"key":"m","value":{"doubleValue":"-Infinity"}}"#;
        let nested = format!(
            r#"{{"key":"a","value":{{"arrayValue":{{"values":[{{"doubleValue":"NaN"}},{{"kvlistValue":{{"values":[{P}]}}}}]}}}}}}"#
        );
        let res = format!(r#""resource":{{"attributes":[{N},{nested}]}}"#);
        let scope = format!(r#""scope":{{"name":"s","attributes":[{M}]}}"#);
        let traces = format!(
            r#"{{"resourceSpans":[{{{res},"scopeSpans":[{{{scope},"spans":[{{"name":"x","attributes":[{P}],"events":[{{"attributes":[{M}]}}],"links":[{{"attributes":[{N}]}}]}}]}}]}}]}}"#
        );
        let logs = format!(
            r#"{{"resourceLogs":[{{{res},"scopeLogs":[{{{scope},"logRecords":[{{"body":{{"doubleValue":"Infinity"}},"attributes":[{M}]}}]}}]}}]}}"#
        );
        let exemplar = format!(r#"{{"filteredAttributes":[{N}],"asDouble":"-Infinity"}}"#);
        let metrics = format!(
            r#"{{"resourceMetrics":[{{{res},"scopeMetrics":[{{{scope},"metrics":[
                {{"name":"g","metadata":[{P}],"gauge":{{"dataPoints":[{{"attributes":[{M}],"asDouble":"NaN","exemplars":[{exemplar}]}}]}}}},
                {{"name":"s","sum":{{"dataPoints":[{{"asDouble":"Infinity"}}]}}}},
                {{"name":"h","histogram":{{"dataPoints":[{{"attributes":[{N}],"sum":"NaN","min":"-Infinity","max":"Infinity","bucketCounts":["0","1"],"explicitBounds":["Infinity"],"exemplars":[{exemplar}]}}]}}}},
                {{"name":"e","exponentialHistogram":{{"dataPoints":[{{"sum":"Infinity","min":"-Infinity","max":"NaN","zeroThreshold":"Infinity","exemplars":[{exemplar}]}}]}}}},
                {{"name":"q","summary":{{"dataPoints":[{{"sum":"-Infinity","quantileValues":[{{"quantile":0.5,"value":"NaN"}}]}}]}}}}
            ]}}]}}]}}"#
        );
        for line in [traces, logs, metrics] {
            let line = line.replace(['\n', ' '], "");
            let parsed = parse_line(&line).unwrap();
            // Count what came back, in the `Debug` text, against the
            // strings in the line.
            let text = match &parsed {
                ExportRequest::Traces(r) => format!("{r:?}"),
                ExportRequest::Logs(r) => format!("{r:?}"),
                ExportRequest::Metrics(r) => format!("{r:?}"),
            };
            let count = |needle: &str| line.matches(needle).count();
            let nan = count("\"NaN\"");
            let inf = count("\"Infinity\"");
            let neg = count("\"-Infinity\"");
            assert_eq!(text.matches("NaN").count(), nan, "{text}");
            // `Debug` writes +∞ as `inf` and -∞ as `-inf`.
            assert_eq!(text.matches("-inf").count(), neg, "{text}");
            assert_eq!(text.matches("inf").count() - neg, inf, "{text}");
            assert!(!text.contains("e307"), "no stand-in left: {text}");
        }
    }
}
