//! OTLP/gRPC transport (cargo feature `otlp-grpc`). It runs tonic on a
//! current-thread tokio runtime of its own, on a thread of its own: it
//! works whether or not the service runs tokio, and neither sending nor
//! shutting down ever needs the service's runtime (so shutting down from a
//! current-thread runtime cannot deadlock).

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
use telemetry_core::{ExportError, ExportErrorKind};
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};

use super::config::{Compression, SignalConfig};
use super::retry::{Attempts, Retry};

pub(crate) enum Payload {
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

struct Job {
    cfg: SignalConfig,
    payload: Payload,
    reply: mpsc::SyncSender<(Result<(), ExportError>, u64)>,
}

pub(crate) struct GrpcTransport {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl GrpcTransport {
    pub(crate) fn start() -> std::io::Result<GrpcTransport> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
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
                                .map_err(|e| {
                                    ExportError::new(
                                        ExportErrorKind::Unavailable,
                                        format!("bad endpoint {}: {e}", job.cfg.url),
                                    )
                                })
                        }
                    };
                    let mut attempts = Attempts::default();
                    let result = match channel {
                        Ok(channel) => {
                            runtime.block_on(send(channel, &job.cfg, job.payload, &mut attempts))
                        }
                        Err(e) => Err(e),
                    };
                    let _ = job.reply.send((result, attempts.retries));
                }
                // The runtime is dropped here, on its own thread.
            })?;
        Ok(GrpcTransport {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Sends one request and waits for its outcome (bounded by the timeout).
    pub(crate) fn send(
        &self,
        cfg: &SignalConfig,
        payload: Payload,
        attempts: &mut Attempts,
    ) -> Result<(), ExportError> {
        let (reply, outcome) = mpsc::sync_channel(1);
        let job = Job {
            cfg: cfg.clone(),
            payload,
            reply,
        };
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            return Err(ExportError::new(
                ExportErrorKind::Unavailable,
                "the gRPC transport has stopped",
            ));
        }
        match outcome.recv_timeout(cfg.timeout + Duration::from_secs(1)) {
            Ok((result, retries)) => {
                attempts.retries += retries;
                result
            }
            Err(_) => Err(ExportError::new(
                ExportErrorKind::Timeout,
                format!("no answer from {} within {:?}", cfg.url, cfg.timeout),
            )),
        }
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

async fn send(
    channel: Channel,
    cfg: &SignalConfig,
    payload: Payload,
    attempts: &mut Attempts,
) -> Result<(), ExportError> {
    let mut retry = Retry::new(cfg);
    loop {
        let left = retry.left()?;
        // One export call; the three signals differ only in their client type.
        macro_rules! export {
            ($client:ident, $request:expr) => {{
                let mut c = $client::new(channel.clone());
                if cfg.compression == Compression::Gzip {
                    c = c.send_compressed(CompressionEncoding::Gzip);
                }
                tokio::time::timeout(left, c.export(request($request.clone(), cfg, left)?))
                    .await
                    .map(|r| r.map(|_| ()))
            }};
        }
        let result = match &payload {
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
        let message = format!(
            "{} answered {:?}: {}",
            cfg.url,
            status.code(),
            status.message()
        );
        let wait = retry.wait(retryable(status.code()), None, message, attempts)?;
        tokio::time::sleep(wait).await;
    }
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
