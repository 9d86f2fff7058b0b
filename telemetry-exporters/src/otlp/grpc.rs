//! OTLP/gRPC transport (cargo feature `otlp-grpc`). It runs tonic on a
//! current-thread tokio runtime of its own, on a thread of its own: it
//! works whether or not the service runs tokio, and neither sending nor
//! shutting down ever needs the service's runtime (so shutting down from a
//! current-thread runtime cannot deadlock).
//!
//! The runtime thread makes single attempts, each bounded by the time it is
//! given; retries (and the consent check before each) run on the export
//! worker's side, in the retry policy both transports share.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use telemetry_core::export::{Batch, ExportError, ExportErrorKind};
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};

use super::config::{Compression, SignalConfig};
use super::retry::{self, Attempts, Failure};

#[derive(Clone)]
pub(crate) enum Payload {
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

struct Job {
    cfg: SignalConfig,
    payload: Payload,
    /// The time this attempt may take.
    left: Duration,
    reply: mpsc::SyncSender<Result<(), Failure>>,
}

pub(crate) struct GrpcTransport {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl GrpcTransport {
    pub(crate) fn start() -> std::io::Result<GrpcTransport> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("telemetry-otlp-grpc".into())
            .spawn(move || {
                // What tonic, h2 and hyper log here never becomes telemetry.
                let _suppressed = telemetry_core::Context::suppress();
                let mut channels: HashMap<String, Channel> = HashMap::new();
                for job in rx {
                    let channel = match channels.get(&job.cfg.url) {
                        Some(c) => Ok(c.clone()),
                        None => {
                            let _enter = runtime.enter();
                            channel_for(&job.cfg)
                                .inspect(|c| {
                                    channels.insert(job.cfg.url.clone(), c.clone());
                                })
                                .map_err(|e| Failure {
                                    retryable: false,
                                    retry_after: None,
                                    message: format!("bad endpoint {}: {e}", job.cfg.url),
                                })
                        }
                    };
                    let result = match channel {
                        Ok(channel) => {
                            runtime.block_on(attempt(channel, &job.cfg, &job.payload, job.left))
                        }
                        Err(e) => Err(e),
                    };
                    let _ = job.reply.send(result);
                }
                // The runtime is dropped here, on its own thread.
            })?;
        Ok(GrpcTransport {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Sends one request, retrying within the signal's timeout and the
    /// batch's deadline (see [`retry::run`]). Never waits past them.
    pub(crate) fn send(
        &self,
        cfg: &SignalConfig,
        batch: &Batch<'_>,
        payload: Payload,
        attempts: &mut Attempts,
    ) -> Result<(), ExportError> {
        retry::run(cfg, batch, attempts, |left| {
            let (reply, outcome) = mpsc::sync_channel(1);
            let job = Job {
                cfg: cfg.clone(),
                payload: payload.clone(),
                left,
                reply,
            };
            let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
            if !sent {
                return Err(Failure {
                    retryable: false,
                    retry_after: None,
                    message: "the gRPC transport has stopped".to_owned(),
                });
            }
            // The attempt is bounded by `left` on the runtime; the margin
            // covers a busy runtime thread.
            outcome
                .recv_timeout(left + Duration::from_millis(250))
                .unwrap_or_else(|_| {
                    Err(Failure {
                        retryable: true,
                        retry_after: None,
                        message: format!("no answer from {} within {left:?}", cfg.url),
                    })
                })
        })
    }
}

impl Drop for GrpcTransport {
    /// Stops the transport thread. Every call on it is bounded by its
    /// timeout, so it ends soon; it is not waited for past a few seconds.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// A lazily connecting channel to the signal's endpoint (TLS for https).
fn channel_for(cfg: &SignalConfig) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(cfg.url.clone())?.connect_timeout(cfg.timeout);
    #[cfg(feature = "otlp-tls")]
    let endpoint = if cfg.url.starts_with("https://") {
        let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
        if let Some(pem) = &cfg.ca_pem {
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        if let Some(id) = &cfg.client_identity {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                &id.cert_pem,
                &id.key_pem,
            ));
        }
        endpoint.tls_config(tls)?
    } else {
        endpoint
    };
    Ok(endpoint.connect_lazy())
}

fn retryable(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Unavailable
            | ResourceExhausted
            | DeadlineExceeded
            | Aborted
            | Cancelled
            | OutOfRange
            | DataLoss
    )
}

/// One export call, bounded by `left`.
async fn attempt(
    channel: Channel,
    cfg: &SignalConfig,
    payload: &Payload,
    left: Duration,
) -> Result<(), Failure> {
    // One export call; the three signals differ only in their client type.
    macro_rules! export {
        ($client:ident, $request:expr) => {{
            let mut c = $client::new(channel.clone());
            if cfg.compression == Compression::Gzip {
                c = c.send_compressed(CompressionEncoding::Gzip);
            }
            let request = request($request.clone(), cfg, left).map_err(|e| Failure {
                retryable: false,
                retry_after: None,
                message: e.to_string(),
            })?;
            tokio::time::timeout(left, c.export(request))
                .await
                .map(|r| r.map(|_| ()))
        }};
    }
    let result = match payload {
        Payload::Traces(r) => export!(TraceServiceClient, r),
        Payload::Logs(r) => export!(LogsServiceClient, r),
        Payload::Metrics(r) => export!(MetricsServiceClient, r),
    };
    let status = match result {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(status)) => status,
        // The client-side deadline passed (a slow or silent server).
        Err(_) => tonic::Status::deadline_exceeded(format!("no answer within {left:?}")),
    };
    Err(Failure {
        retryable: retryable(status.code()),
        retry_after: None,
        message: format!(
            "{} answered {:?}: {}",
            cfg.url,
            status.code(),
            status.message()
        ),
    })
}

fn request<T>(
    message: T,
    cfg: &SignalConfig,
    timeout: Duration,
) -> Result<tonic::Request<T>, ExportError> {
    let mut req = tonic::Request::new(message);
    req.set_timeout(timeout);
    for (k, v) in &cfg.headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|e| {
                ExportError::new(
                    ExportErrorKind::Other,
                    format!("header `{k}` is not valid gRPC metadata: {e}"),
                )
            })?;
        let value = v.parse().map_err(|e| {
            ExportError::new(
                ExportErrorKind::Other,
                format!("header `{k}` has a value gRPC metadata cannot carry: {e}"),
            )
        })?;
        req.metadata_mut().insert(key, value);
    }
    Ok(req)
}
