//! The OTLP exporter: ships batches to an OpenTelemetry collector over
//! OTLP/HTTP, protobuf or JSON (cargo feature `otlp`), or OTLP/gRPC
//! (cargo feature `otlp-grpc`).
//!
//! ```no_run
//! use telemetry_exporters::otlp::OtlpExporter;
//! # fn main() -> Result<(), telemetry_core::ConfigError> {
//! // Endpoint, protocol, headers, timeout and compression come from the
//! // standard OTEL_EXPORTER_OTLP_* variables, or from code:
//! let exporter = OtlpExporter::builder().endpoint("http://collector:4318").build()?;
//! # Ok(()) }
//! ```
//!
//! The messages are `opentelemetry-proto`'s. They are built from our
//! records directly: the `opentelemetry-otlp` exporters take the SDK's own
//! record types, which cannot be built outside the SDK for logs and metrics
//! (see the repository's `docs/opentelemetry-notes.md`).
//!
//! Outages: an export retries retryable failures with exponential backoff
//! and jitter, honouring `Retry-After`, within the timeout and the batch's
//! deadline; then the batch is dropped and counted (`exporter_failure`).
//! Before every attempt it checks that no consent revocation made the
//! batch stale. Meanwhile the service is not slowed: recording only ever
//! pushes to the pipeline's bounded queue, which drops and counts
//! (`queue_full`) when the exporter falls behind, and consent changes,
//! flushes and shutdowns never wait for the network past their deadlines.
//! Export resumes by itself with the next batch once the collector answers.

mod config;
#[cfg(feature = "otlp-grpc")]
mod grpc;
mod retry;
mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use telemetry_core::export::{Batch, ExportError, ExportErrorKind, Exporter, Signal};
use telemetry_core::{ConfigError, Environment};

pub use config::{ClientIdentity, Compression, Protocol, SignalConfig, signal_path};

use crate::proto;

/// Configures an [`OtlpExporter`]. Values set here are defaults that the
/// `OTEL_EXPORTER_OTLP_*` environment variables override, unless
/// [`code_wins`](Self::code_wins) is set.
#[derive(Clone, Debug, Default)]
#[must_use = "call .build()"]
pub struct OtlpExporterBuilder {
    code: config::CodeSettings,
    env: Option<Environment>,
}

impl OtlpExporterBuilder {
    /// The collector's base URL (`http://host:4318`); the signal paths
    /// (`/v1/traces`, ...) are appended.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.code.endpoint = Some(url.into());
        self
    }

    /// The full URL of one signal, used as given.
    pub fn signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        self.code.signal_endpoints.push((signal, url.into()));
        self
    }

    /// The protocol (default `http/protobuf`).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.code.protocol = Some(protocol);
        self
    }

    /// An extra request header (e.g. an API key).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.code.headers.push((key.into(), value.into()));
        self
    }

    /// Timeout of one export, retries included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.code.timeout = Some(timeout);
        self
    }

    /// PEM certificate(s) of a private CA to trust for https endpoints
    /// (like `OTEL_EXPORTER_OTLP_CERTIFICATE`, which names a file).
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.code.certificate = Some(pem.into());
        self
    }

    /// The client certificate (chain) and private key, PEM, presented to
    /// a collector that requires mutual TLS (like
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and
    /// `OTEL_EXPORTER_OTLP_CLIENT_KEY`, which name files; the
    /// `_TRACES_`/`_METRICS_`/`_LOGS_` forms set one signal's). Needs the
    /// feature `otlp-tls`.
    pub fn client_certificate_pem(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.code.client_identity = Some(config::ClientIdentity {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        });
        self
    }

    /// Body compression (default none).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.code.compression = Some(compression);
        self
    }

    /// Values set in code win over the environment.
    pub fn code_wins(mut self) -> Self {
        self.code.code_wins = true;
        self
    }

    /// Reads variables from `env` instead of the process environment.
    pub fn env(mut self, env: Environment) -> Self {
        self.env = Some(env);
        self
    }

    /// Resolves and validates the configuration.
    pub fn build(self) -> Result<OtlpExporter, ConfigError> {
        let env = self.env.unwrap_or_else(Environment::process);
        let signals = config::resolve(&self.code, &env)?;
        let uses_grpc = signals.iter().any(|s| s.protocol == Protocol::Grpc);
        let http = transport::Transport::new(&signals)?;
        #[cfg(feature = "otlp-grpc")]
        let grpc = if uses_grpc {
            Some(grpc::GrpcTransport::start().map_err(|e| {
                ConfigError::new(
                    telemetry_core::ConfigErrorKind::Exporter,
                    format!("cannot start the OTLP/gRPC transport thread: {e}"),
                )
            })?)
        } else {
            None
        };
        #[cfg(not(feature = "otlp-grpc"))]
        if uses_grpc {
            return Err(ConfigError::new(
                telemetry_core::ConfigErrorKind::Exporter,
                "the OTLP protocol is `grpc`, but telemetry-exporters was built without its `otlp-grpc` \
                 feature; enable it, or use `http/protobuf`",
            ));
        }
        Ok(OtlpExporter {
            signals,
            #[cfg(feature = "otlp-grpc")]
            grpc,
            transport: http,
            stats: Arc::new(StatsCells::default()),
            buf: Vec::new(),
            scratch: crate::proto_wire::Scratch::default(),
        })
    }
}

#[derive(Debug, Default)]
struct StatsCells {
    requests: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
}

/// What the OTLP exporter did, readable while it runs.
#[derive(Clone, Debug)]
pub struct OtlpStats {
    cells: Arc<StatsCells>,
}

impl OtlpStats {
    /// Requests the collector accepted.
    pub fn requests(&self) -> u64 {
        self.cells.requests.load(Ordering::Relaxed)
    }
    /// Requests given up on (after retries).
    pub fn failed(&self) -> u64 {
        self.cells.failed.load(Ordering::Relaxed)
    }
    /// Retries made.
    pub fn retries(&self) -> u64 {
        self.cells.retries.load(Ordering::Relaxed)
    }
}

/// Exports over OTLP/HTTP. See the [module docs](self).
pub struct OtlpExporter {
    signals: [SignalConfig; 3],
    #[cfg(feature = "otlp-grpc")]
    grpc: Option<grpc::GrpcTransport>,
    transport: transport::Transport,
    stats: Arc<StatsCells>,
    buf: Vec<u8>,
    /// Reused buffers of the protobuf encoder.
    scratch: crate::proto_wire::Scratch,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers may hold credentials: show only the URLs.
        f.debug_struct("OtlpExporter")
            .field(
                "urls",
                &self
                    .signals
                    .iter()
                    .map(|s| s.url.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Starts configuring an exporter.
    pub fn builder() -> OtlpExporterBuilder {
        OtlpExporterBuilder::default()
    }

    /// The resolved settings of a signal.
    pub fn signal_config(&self, signal: Signal) -> &SignalConfig {
        &self.signals[signal.index()]
    }

    /// A handle to the exporter's counters.
    pub fn stats(&self) -> OtlpStats {
        OtlpStats {
            cells: self.stats.clone(),
        }
    }

    fn encode(&mut self, signal: Signal, batch: &Batch<'_>) -> Result<Vec<u8>, ExportError> {
        // A bare request has no size limit here (the collector has its own).
        let too_large = |crate::proto_wire::TooLarge(len)| {
            ExportError::new(
                ExportErrorKind::Encoding,
                format!("an export request of {len} bytes is too large"),
            )
        };
        let protocol = self.signals[signal.index()].protocol;
        let json_err =
            |e: serde_json::Error| ExportError::new(ExportErrorKind::Encoding, e.to_string());
        self.buf.clear();
        let (res, names) = (batch.resource, batch.categories);
        Ok(match (signal, protocol) {
            // Spans and logs straight into protobuf bytes (see `proto_wire`).
            (Signal::Traces, Protocol::HttpProtobuf) => {
                let bare = crate::proto_wire::Framing::Bare;
                let (buf, scratch) = (&mut self.buf, &mut self.scratch);
                crate::proto_wire::trace_request(buf, scratch, bare, res, names, batch.spans)
                    .map_err(too_large)?;
                std::mem::take(&mut self.buf)
            }
            (Signal::Logs, Protocol::HttpProtobuf) => {
                let bare = crate::proto_wire::Framing::Bare;
                let (buf, scratch) = (&mut self.buf, &mut self.scratch);
                crate::proto_wire::logs_request(buf, scratch, bare, res, names, batch.logs)
                    .map_err(too_large)?;
                std::mem::take(&mut self.buf)
            }
            (Signal::Metrics, Protocol::HttpProtobuf) => {
                proto::metrics_request(res, names, batch.metrics).encode_to_vec()
            }
            (Signal::Traces, Protocol::HttpJson) => {
                crate::otlp_json::encode_traces(&mut self.buf, res, names, batch.spans);
                std::mem::take(&mut self.buf)
            }
            (Signal::Logs, Protocol::HttpJson) => {
                crate::otlp_json::encode_logs(&mut self.buf, res, names, batch.logs);
                std::mem::take(&mut self.buf)
            }
            (Signal::Metrics, Protocol::HttpJson) => {
                serde_json::to_vec(&proto::metrics_request(res, names, batch.metrics))
                    .map_err(json_err)?
            }
            (_, Protocol::Grpc) => {
                return Err(ExportError::new(
                    ExportErrorKind::Encoding,
                    "gRPC requests are not encoded as bodies",
                ));
            }
        })
    }

    /// Sends one signal of the batch over its protocol.
    fn send(
        &mut self,
        signal: Signal,
        batch: &Batch<'_>,
        attempts: &mut transport::Attempts,
    ) -> Result<(), ExportError> {
        #[cfg(feature = "otlp-grpc")]
        if let Some(grpc) = &self.grpc
            && self.signals[signal.index()].protocol == Protocol::Grpc
        {
            let (res, names) = (batch.resource, batch.categories);
            let payload = match signal {
                Signal::Traces => {
                    grpc::Payload::Traces(proto::trace_request(res, names, batch.spans))
                }
                Signal::Logs => grpc::Payload::Logs(proto::logs_request(res, names, batch.logs)),
                Signal::Metrics => {
                    grpc::Payload::Metrics(proto::metrics_request(res, names, batch.metrics))
                }
            };
            return grpc.send(&self.signals[signal.index()], batch, payload, attempts);
        }
        let body = self.encode(signal, batch)?;
        self.transport.send(
            signal.index(),
            &self.signals[signal.index()],
            batch,
            body,
            attempts,
        )
    }
}

impl Exporter for OtlpExporter {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let mut failed = [false; 3];
        let mut first_error = None;
        for signal in Signal::ALL {
            let empty = match signal {
                Signal::Traces => batch.spans.is_empty(),
                Signal::Logs => batch.logs.is_empty(),
                Signal::Metrics => batch.metrics.is_empty(),
            };
            if empty {
                continue;
            }
            let mut attempts = transport::Attempts::default();
            let result = self.send(signal, batch, &mut attempts);
            self.stats
                .retries
                .fetch_add(attempts.retries, Ordering::Relaxed);
            match result {
                Ok(()) => {
                    self.stats.requests.fetch_add(1, Ordering::Relaxed);
                }
                // A revocation made the batch stale: nothing more is sent.
                // What was not delivered (this signal, the ones after it,
                // and any that failed before) is handed back to be filtered
                // again; what was delivered is not sent twice.
                Err(e) if e.kind() == ExportErrorKind::Stale => {
                    let mut undelivered = failed;
                    for later in Signal::ALL
                        .iter()
                        .filter(|s| **s as usize >= signal.index())
                    {
                        undelivered[*later as usize] = true;
                    }
                    return Err(e.only(Signal::ALL.into_iter().filter(|s| undelivered[s.index()])));
                }
                Err(e) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    failed[signal.index()] = true;
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(e.only(Signal::ALL.into_iter().filter(|s| failed[s.index()]))),
        }
    }

    /// Nothing is buffered here; shutting down closes the gRPC connections
    /// (and stops their thread).
    fn shutdown(&mut self, _deadline: std::time::Instant) -> Result<(), ExportError> {
        #[cfg(feature = "otlp-grpc")]
        self.grpc.take();
        Ok(())
    }
}
