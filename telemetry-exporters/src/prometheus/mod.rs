//! A Prometheus endpoint: the service's metrics, scraped where they are.
//!
//! [`PrometheusExporter`] reads the instance's metrics at each scrape (no
//! second aggregation, no push interval in between) and writes them in the
//! Prometheus text format or OpenMetrics, whichever the scraper asks for.
//! Names and units follow OpenTelemetry's Prometheus compatibility rules
//! (dots to underscores, unit suffixes such as `_seconds` and `_bytes`,
//! `_total` on counters, the resource as `target_info`), so a dashboard
//! reads the same series whether Prometheus scrapes the service directly
//! or an OpenTelemetry Collector's Prometheus exporter re-exposes its
//! OTLP. Every series carries `telemetry_category`, as OTLP data points do.
//! OpenMetrics carries exemplars: the trace and span of a recorded call on
//! the `function_calls_total` series and on the bucket of
//! `function_duration_seconds` its duration fell into.
//!
//! Serve it on its own listener, or mount it in the service's router:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use telemetry_exporters::prometheus::PrometheusExporter;
//!
//! let telemetry = telemetry_core::Telemetry::builder().service("checkout", "1.0.0").build()?;
//! let prometheus = PrometheusExporter::new(&telemetry);
//! // Its own listener, 127.0.0.1:9464 unless OTEL_EXPORTER_PROMETHEUS_HOST
//! // or OTEL_EXPORTER_PROMETHEUS_PORT say otherwise; stops when dropped.
//! let _server = prometheus.serve_from_env()?;
//! // Or, in an axum router:
//! // .route("/metrics", get(move |h: HeaderMap| async move {
//! //     let s = prometheus.scrape(h.get(ACCEPT).and_then(|v| v.to_str().ok()));
//! //     ([(CONTENT_TYPE, s.content_type)], s.body)
//! // }))
//! # Ok(()) }
//! ```
//!
//! Only what consent admitted was ever measured, so a scrape needs no
//! filtering; its work is bounded by the instruments' series limits.
//! Instruments with delta temporality are left out (Prometheus reads
//! totals). The scrape reads atomics and never blocks recording.

mod exposition;
mod names;
mod server;

pub use exposition::Format;
pub use server::PrometheusServer;

use std::net::SocketAddr;

use telemetry_core::Telemetry;

/// Default port of the endpoint (OpenTelemetry's Prometheus exporter default).
pub const DEFAULT_PORT: u16 = 9464;

/// The Prometheus pull exporter of one telemetry instance.
#[derive(Clone, Debug)]
pub struct PrometheusExporter {
    telemetry: Telemetry,
}

/// One scrape's response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scrape {
    /// The `Content-Type` header to send.
    pub content_type: &'static str,
    /// The exposition.
    pub body: String,
}

impl PrometheusExporter {
    /// An exporter of `telemetry`'s metrics (it holds a handle to the
    /// instance).
    pub fn new(telemetry: &Telemetry) -> Self {
        PrometheusExporter {
            telemetry: telemetry.clone(),
        }
    }

    /// The metrics now, in `format`.
    pub fn render(&self, format: Format) -> String {
        exposition::render(
            &self.telemetry.metrics_snapshot(),
            self.telemetry.resource(),
            self.telemetry.categories(),
            format,
        )
    }

    /// Answers a scrape whose `Accept` header is `accept`: OpenMetrics when
    /// the scraper accepts it, else the text format.
    pub fn scrape(&self, accept: Option<&str>) -> Scrape {
        let format = Format::negotiate(accept);
        Scrape {
            content_type: format.content_type(),
            body: self.render(format),
        }
    }

    /// Serves `GET /metrics` on `addr` from a thread of its own, until the
    /// returned server is dropped or stopped.
    pub fn serve(&self, addr: SocketAddr) -> std::io::Result<PrometheusServer> {
        PrometheusServer::start(self.clone(), addr)
    }

    /// [`serve`](Self::serve) on the address the environment gives:
    /// `OTEL_EXPORTER_PROMETHEUS_HOST` (default `127.0.0.1`) and
    /// `OTEL_EXPORTER_PROMETHEUS_PORT` (default 9464). A value that does
    /// not parse is an error that names it.
    pub fn serve_from_env(&self) -> std::io::Result<PrometheusServer> {
        let host = std::env::var("OTEL_EXPORTER_PROMETHEUS_HOST").ok();
        let port = std::env::var("OTEL_EXPORTER_PROMETHEUS_PORT").ok();
        self.serve(address(host.as_deref(), port.as_deref())?)
    }
}

/// The listening address from the two environment values.
fn address(host: Option<&str>, port: Option<&str>) -> std::io::Result<SocketAddr> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let host = match host.map(str::trim).filter(|h| !h.is_empty()) {
        None | Some("localhost") => "127.0.0.1",
        Some(h) => h,
    };
    let port = match port.map(str::trim).filter(|p| !p.is_empty()) {
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().map_err(|_| {
            invalid(format!(
                "OTEL_EXPORTER_PROMETHEUS_PORT={p:?} is not a port number (0-65535)"
            ))
        })?,
    };
    let ip: std::net::IpAddr = host.trim_matches(['[', ']']).parse().map_err(|_| {
        invalid(format!(
            "OTEL_EXPORTER_PROMETHEUS_HOST={host:?} is not an IP address (like 127.0.0.1 or ::1)"
        ))
    })?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_environment_values() {
        assert_eq!(
            address(None, None).unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert_eq!(
            address(Some("localhost"), Some("9100")).unwrap(),
            "127.0.0.1:9100".parse().unwrap()
        );
        assert_eq!(
            address(Some("[::1]"), Some("0")).unwrap(),
            "[::1]:0".parse().unwrap()
        );
        let e = address(None, Some("http")).unwrap_err().to_string();
        assert!(e.contains("OTEL_EXPORTER_PROMETHEUS_PORT"), "{e}");
        let e = address(Some("example.com"), None).unwrap_err().to_string();
        assert!(e.contains("OTEL_EXPORTER_PROMETHEUS_HOST"), "{e}");
    }

    #[test]
    fn the_scraper_chooses_the_format() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
    }
}
