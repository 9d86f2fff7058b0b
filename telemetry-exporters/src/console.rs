//! A console exporter (feature `console`) for local development: one
//! readable line per span, event and metric point, on stderr (or any
//! writer). It shows what the pipeline exports, after consent, sampling
//! and the privacy transforms: hashed values as their digests, redacted
//! ones as `[REDACTED]`, subjects as pseudonymous keys.
//!
//! ```
//! use telemetry_core::Telemetry;
//! use telemetry_exporters::console::ConsoleExporter;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder()
//!     .service("dev", "0")
//!     .exporter(ConsoleExporter::stderr())
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Lines look like:
//!
//! ```text
//! span   checkout.place_order 12.4ms ok trace=4bf9…4736 span=00f0…02b7 category=performance total_cents=1299
//! event  checkout.purchase_completed info category=business subject=6f1c… email=#9a3e… card_last4=[REDACTED]
//! metric function.calls{function=checkout.place_order,module=shop::checkout,outcome=ok} 3
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use telemetry_core::export::{
    Attribute, Batch, ExportError, ExportErrorKind, Exporter, LogRecord, MetricPoints, Number,
    SpanRecord, SpanStatus,
};

/// Writes records as lines (see the [module](self)).
pub struct ConsoleExporter {
    out: Box<dyn Write + Send>,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter").finish_non_exhaustive()
    }
}

impl ConsoleExporter {
    /// Lines on stderr.
    pub fn stderr() -> Self {
        Self::to_writer(std::io::stderr())
    }

    /// Lines on stdout.
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout())
    }

    /// Lines into `out`.
    pub fn to_writer(out: impl Write + Send + 'static) -> Self {
        ConsoleExporter { out: Box::new(out) }
    }

    /// Lines into a shared buffer (for tests, or to show them elsewhere).
    pub fn to_buffer(buffer: Arc<Mutex<Vec<u8>>>) -> Self {
        Self::to_writer(SharedBuffer(buffer))
    }
}

/// A `Write` into a shared buffer.
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn attrs(line: &mut String, attributes: &[Attribute]) {
    for a in attributes {
        line.push(' ');
        line.push_str(&a.key);
        line.push('=');
        line.push_str(&a.value.render());
    }
}

fn span_line(batch: &Batch<'_>, s: &SpanRecord) -> String {
    let took = s.end.duration_since(s.start).unwrap_or_default();
    let status = match &s.status {
        SpanStatus::Error { description } => format!("error({description})"),
        _ => "ok".to_owned(),
    };
    let mut line = format!(
        "span   {} {:.1}ms {status} trace={} span={} category={}",
        s.name,
        took.as_secs_f64() * 1000.0,
        s.trace_id,
        s.span_id,
        batch.categories.name(s.category)
    );
    if let Some(subject) = &s.subject {
        line.push_str(&format!(" subject={}", subject.to_hex()));
    }
    attrs(&mut line, &s.attributes);
    line
}

fn log_line(batch: &Batch<'_>, l: &LogRecord) -> String {
    let mut line = format!(
        "event  {} {:?} category={}",
        l.event_name,
        l.severity,
        batch.categories.name(l.category)
    )
    .to_lowercase();
    if let Some(subject) = &l.subject {
        line.push_str(&format!(" subject={}", subject.to_hex()));
    }
    if let Some(body) = &l.body {
        line.push_str(&format!(" body={body:?}"));
    }
    attrs(&mut line, &l.attributes);
    line
}

fn number(n: &Number) -> String {
    match n {
        Number::I64(v) => v.to_string(),
        Number::F64(v) => v.to_string(),
    }
}

fn series(name: &str, attributes: &[Attribute]) -> String {
    let labels: Vec<String> = attributes
        .iter()
        .map(|a| format!("{}={}", a.key, a.value.render()))
        .collect();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

impl Exporter for ConsoleExporter {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let mut out = String::new();
        for s in batch.spans {
            out.push_str(&span_line(batch, s));
            out.push('\n');
        }
        for l in batch.logs {
            out.push_str(&log_line(batch, l));
            out.push('\n');
        }
        for m in batch.metrics {
            match &m.points {
                MetricPoints::Sum { points, .. } | MetricPoints::Gauge { points } => {
                    for p in points {
                        out.push_str(&format!(
                            "metric {} {}\n",
                            series(&m.name, &p.attributes),
                            number(&p.value)
                        ));
                    }
                }
                MetricPoints::Histogram { points, .. } => {
                    for p in points {
                        out.push_str(&format!(
                            "metric {} count={} sum={}\n",
                            series(&m.name, &p.attributes),
                            p.count,
                            p.sum
                        ));
                    }
                }
            }
        }
        self.out
            .write_all(out.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| ExportError::new(ExportErrorKind::Unavailable, format!("console: {e}")))
    }

    fn force_flush(&mut self, _deadline: Instant) -> Result<(), ExportError> {
        self.out
            .flush()
            .map_err(|e| ExportError::new(ExportErrorKind::Unavailable, format!("console: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use telemetry_core::{Category, ConsentPolicy, Environment, KeyId, Telemetry};

    #[test]
    fn lines_show_what_is_exported_and_nothing_raw() {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let t = Telemetry::builder()
            .service("dev", "0")
            .env(Environment::from_pairs::<&str, &str>([]))
            .hash_key(KeyId(1), b"console exporter test key 012345678")
            .consent(
                ConsentPolicy::opt_in()
                    .require(Category::BUSINESS)
                    .exempt(Category::PERFORMANCE),
            )
            .exporter(ConsoleExporter::to_buffer(buffer.clone()))
            .flush_interval(Duration::from_secs(3600))
            .metric_interval(Duration::from_secs(3600))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        t.consent()
            .grant("dana", Category::BUSINESS)
            .unwrap_or_else(|e| panic!("{e}"));
        {
            let _s = t.subject("dana");
            let _span = t.span("checkout.place_order", Category::PERFORMANCE);
            t.event("checkout.purchase_completed", Category::BUSINESS)
                .hashed("email", "dana@example.com")
                .public("total_cents", 1299u64)
                .emit();
        }
        t.counter("orders", Category::PERFORMANCE)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .add(2, &[]);
        t.force_flush().unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8(buffer.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default();
        let key = t.consent().subject_key("dana").to_hex();
        assert!(text.contains("span   checkout.place_order "), "{text}");
        assert!(
            text.contains("event  checkout.purchase_completed info category=business"),
            "{text}"
        );
        assert!(text.contains(&format!("subject={key}")), "{text}");
        assert!(text.contains("total_cents=1299"), "{text}");
        assert!(text.contains("metric orders 2"), "{text}");
        assert!(
            !text.contains("dana@example.com") && !text.contains("dana "),
            "{text}"
        );
    }
}
