//! Outgoing HTTP calls: a client span, the trace and the subject's consent
//! injected into the request's headers, and `http.client.request.duration`
//! recorded when the call ends. Works with any HTTP client that exposes
//! the request's `http::HeaderMap` (hyper, reqwest, ureq through `http`).
//!
//! ```
//! use http::{HeaderMap, Method};
//! use telemetry_core::Telemetry;
//! use telemetry_http::client::HttpClientTelemetry;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder().service("frontend", "1.0").build()?;
//! let calls = HttpClientTelemetry::new(&telemetry); // once, next to the client
//! let mut headers = HeaderMap::new();
//! let call = calls.start(&Method::POST, "/reserve", "inventory.internal", 8080, &mut headers);
//! // ... send the request with `headers` ...
//! call.finish(200);
//! # Ok(()) }
//! ```

use std::time::Instant;

use http::{HeaderMap, Method};
use telemetry_core::{Category, Histogram, Span, SpanKind, Telemetry, Value};

use crate::HeaderPropagation;
use crate::conventions::{DURATION_BOUNDS, method_name, span_name};

/// Measures a service's outgoing calls; build it once (it holds the
/// duration histogram) and [`start`](Self::start) each call.
#[derive(Clone, Debug)]
pub struct HttpClientTelemetry {
    telemetry: Telemetry,
    duration: Option<Histogram>,
}

impl HttpClientTelemetry {
    /// Call telemetry recording into `telemetry`.
    pub fn new(telemetry: &Telemetry) -> Self {
        let duration = telemetry
            .histogram("http.client.request.duration", Category::PERFORMANCE)
            .unit("s")
            .description("Duration of HTTP client requests.")
            .boundaries(DURATION_BOUNDS.to_vec())
            .attribute("http.request.method")
            .attribute("server.address")
            .attribute("server.port")
            .attribute("http.response.status_code")
            .attribute("error.type")
            .build()
            .ok();
        HttpClientTelemetry {
            telemetry: telemetry.clone(),
            duration,
        }
    }

    /// Starts a call of `method` to `template` (the route the call targets,
    /// without ids: `/items/{id}`, never `/items/83412`) on
    /// `server_address:server_port`: opens a client span (a child of the
    /// current one) and injects the trace and the current subject's consent
    /// into `headers`.
    pub fn start(
        &self,
        method: &Method,
        template: &str,
        server_address: &str,
        server_port: u16,
        headers: &mut HeaderMap,
    ) -> ClientCall {
        let t = &self.telemetry;
        let method = method_name(method);
        let mut span = t.span_with(Category::PERFORMANCE, || {
            span_name(method, Some(template)).into()
        });
        span.set_kind(SpanKind::Client);
        if span.is_recording() {
            span.set_attribute("http.request.method", method);
            span.set_attribute("url.template", template.to_owned());
            span.set_attribute("server.address", server_address.to_owned());
            span.set_attribute("server.port", u64::from(server_port));
        }
        {
            // The client span is the remote parent of the server's span.
            let _entered = span.enter();
            t.inject_headers(headers);
        }
        ClientCall {
            span,
            started: Instant::now(),
            method,
            server_address: server_address.to_owned(),
            server_port,
            duration: self.duration.clone(),
        }
    }
}

/// A call in progress; end it with [`finish`](Self::finish) or
/// [`fail`](Self::fail). Dropped without either, it ends its span without
/// a status and records no duration.
#[derive(Debug)]
pub struct ClientCall {
    span: Span,
    started: Instant,
    method: &'static str,
    server_address: String,
    server_port: u16,
    duration: Option<Histogram>,
}

impl ClientCall {
    /// The call's span (to add attributes, or to enter around the send).
    pub fn span(&mut self) -> &mut Span {
        &mut self.span
    }

    /// The server answered with `status` (a 5xx is an error).
    pub fn finish(mut self, status: u16) {
        self.span
            .set_attribute("http.response.status_code", u64::from(status));
        let error = (status >= 500).then(|| status.to_string());
        if let Some(e) = &error {
            self.span.set_error_description(e.clone());
        }
        self.record(Some(status), error.as_deref());
    }

    /// The call failed without an answer; `error_type` is a short, fixed
    /// description (`timeout`, `connection_refused`), never a message that
    /// could hold personal data.
    pub fn fail(mut self, error_type: &'static str) {
        self.span.set_error_description(error_type);
        self.record(None, Some(error_type));
    }

    fn record(&self, status: Option<u16>, error: Option<&str>) {
        let Some(histogram) = &self.duration else {
            return;
        };
        let attrs = [
            ("http.request.method", Value::Str(self.method)),
            ("server.address", Value::Str(&self.server_address)),
            ("server.port", Value::U64(u64::from(self.server_port))),
            (
                "http.response.status_code",
                status.map_or(Value::Absent, |s| Value::U64(u64::from(s))),
            ),
            ("error.type", Value::Str(error.unwrap_or(""))),
        ];
        histogram.record(self.started.elapsed().as_secs_f64(), &attrs);
    }
}
