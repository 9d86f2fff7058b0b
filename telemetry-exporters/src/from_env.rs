//! The exporters `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` and
//! `OTEL_LOGS_EXPORTER` ask for (features `otlp` or `console`): each is a
//! comma-separated list of `otlp` (the default), `console` and `none`.
//!
//! ```no_run
//! use telemetry_core::Telemetry;
//! use telemetry_exporters::from_env::exporters_from_env;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut builder = Telemetry::builder().service("shop", "1.0");
//! for exporter in exporters_from_env()? {
//!     builder = builder.exporter(exporter);
//! }
//! let telemetry = builder.build()?;
//! # Ok(()) }
//! ```
//!
//! An exporter serving only some signals gets only those: with
//! `OTEL_LOGS_EXPORTER=none`, events, audit records and deletion requests
//! reach no exporter (they are counted as delivered), so use `none` for
//! logs only where nothing downstream must learn of deletions.

use std::time::Instant;

use telemetry_core::export::{Batch, ExportError, Exporter, Signal};
use telemetry_core::{ConfigError, ConfigErrorKind, Environment};

/// An exporter that receives only the signals it is set up for.
#[derive(Debug)]
pub struct SignalFilter<E> {
    inner: E,
    traces: bool,
    metrics: bool,
    logs: bool,
}

impl<E: Exporter> SignalFilter<E> {
    /// `inner`, receiving only `signals`.
    pub fn new(inner: E, signals: &[Signal]) -> Self {
        SignalFilter {
            inner,
            traces: signals.contains(&Signal::Traces),
            metrics: signals.contains(&Signal::Metrics),
            logs: signals.contains(&Signal::Logs),
        }
    }
}

impl<E: Exporter> Exporter for SignalFilter<E> {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let mut only = *batch;
        if !self.traces {
            only.spans = &[];
        }
        if !self.metrics {
            only.metrics = &[];
        }
        if !self.logs {
            only.logs = &[];
        }
        if only.is_empty() {
            return Ok(());
        }
        self.inner.export(&only)
    }

    fn force_flush(&mut self, deadline: Instant) -> Result<(), ExportError> {
        self.inner.force_flush(deadline)
    }

    fn shutdown(&mut self, deadline: Instant) -> Result<(), ExportError> {
        self.inner.shutdown(deadline)
    }
}

/// The exporters the process environment asks for.
pub fn exporters_from_env() -> Result<Vec<Box<dyn Exporter>>, ConfigError> {
    exporters_from(&Environment::process())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Otlp,
    Console,
}

/// The exporters `env` asks for (see the [module](self)).
pub fn exporters_from(env: &Environment) -> Result<Vec<Box<dyn Exporter>>, ConfigError> {
    let mut wanted: Vec<(Kind, Vec<Signal>)> = Vec::new();
    for (signal, var) in [
        (Signal::Traces, "OTEL_TRACES_EXPORTER"),
        (Signal::Metrics, "OTEL_METRICS_EXPORTER"),
        (Signal::Logs, "OTEL_LOGS_EXPORTER"),
    ] {
        let value = env.get(var).unwrap_or_default();
        let value = if value.trim().is_empty() {
            "otlp".to_owned()
        } else {
            value
        };
        for name in value.split(',').map(|n| n.trim().to_ascii_lowercase()) {
            let kind = match name.as_str() {
                "none" => continue,
                "otlp" => Kind::Otlp,
                "console" => Kind::Console,
                other => {
                    return Err(ConfigError::new(
                        ConfigErrorKind::Exporter,
                        format!("{var} has `{other}`; use otlp, console or none (comma-separated)"),
                    ));
                }
            };
            match wanted.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, signals)) => signals.push(signal),
                None => wanted.push((kind, vec![signal])),
            }
        }
    }
    wanted
        .into_iter()
        .map(|(kind, signals)| build(kind, &signals, env))
        .collect()
}

fn build(
    kind: Kind,
    signals: &[Signal],
    env: &Environment,
) -> Result<Box<dyn Exporter>, ConfigError> {
    let _ = (signals, env);
    match kind {
        #[cfg(feature = "otlp")]
        Kind::Otlp => {
            let otlp = crate::otlp::OtlpExporter::builder()
                .env(env.clone())
                .build()?;
            Ok(Box::new(SignalFilter::new(otlp, signals)))
        }
        #[cfg(feature = "console")]
        Kind::Console => Ok(Box::new(SignalFilter::new(
            crate::console::ConsoleExporter::stderr(),
            signals,
        ))),
        #[allow(unreachable_patterns)]
        other => Err(ConfigError::new(
            ConfigErrorKind::Exporter,
            format!(
                "an exporter variable asks for `{}`, but telemetry-exporters was built without its feature; enable the `{}` feature",
                match other {
                    Kind::Otlp => "otlp",
                    Kind::Console => "console",
                },
                match other {
                    Kind::Otlp => "otlp",
                    Kind::Console => "console",
                },
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_choose_exporters_per_signal_and_bad_values_are_errors() {
        let env = |pairs: &[(&str, &str)]| Environment::from_pairs(pairs.iter().copied());
        let none = exporters_from(&env(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(none.is_empty());
        let e = exporters_from(&env(&[("OTEL_TRACES_EXPORTER", "zipkin")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("OTEL_TRACES_EXPORTER has `zipkin`"), "{e}");
        #[cfg(feature = "console")]
        {
            let console = exporters_from(&env(&[
                ("OTEL_TRACES_EXPORTER", "console"),
                ("OTEL_METRICS_EXPORTER", "none"),
                ("OTEL_LOGS_EXPORTER", "console, none"),
            ]))
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(console.len(), 1, "one console exporter for two signals");
        }
    }

    #[cfg(feature = "console")]
    #[test]
    fn a_filtered_exporter_sees_only_its_signals() {
        use std::sync::{Arc, Mutex};
        use telemetry_core::{Category, KeyId, Telemetry};
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let console = crate::console::ConsoleExporter::to_buffer(buffer.clone());
        let t = Telemetry::builder()
            .service("s", "1")
            .env(Environment::from_pairs::<&str, &str>([]))
            .hash_key(KeyId(1), b"signal filter test key 0123456789ab")
            .exporter(SignalFilter::new(console, &[Signal::Logs]))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        drop(t.span("only.a.span", Category::PERFORMANCE));
        t.event("only.an.event", Category::PERFORMANCE).emit();
        t.force_flush().unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8(buffer.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default();
        assert!(text.contains("only.an.event"), "{text}");
        assert!(!text.contains("only.a.span"), "{text}");
    }
}
