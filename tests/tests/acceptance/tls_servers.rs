//! The real servers of the TLS tests: an HTTPS server (a Python script on
//! `ssl`, that is OpenSSL) and an OTLP/gRPC trace server over TLS (tonic)
//! that counts the spans it receives, keeps the listener it was given (no
//! free-port race) and stops when dropped; and the telemetry instance both
//! tests export from.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use telemetry_core::*;
use telemetry_exporters::otlp::OtlpExporter;

/// A running Python HTTPS server, killed when dropped.
pub struct Https {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Https {
    /// Writes `script` to `path` and runs it with `args`; the script
    /// prints its port on its first line.
    pub fn start(path: &Path, script: &str, args: &[&Path]) -> Https {
        std::fs::write(path, script).unwrap();
        let mut child = Command::new("python3")
            .arg(path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Https {
            port: line.trim().parse().unwrap(),
            child,
        }
    }
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An instance of `service` exporting performance data to `exporter`,
/// flushed only on demand.
pub fn telemetry(service: &str, exporter: OtlpExporter) -> Telemetry {
    Telemetry::builder()
        .service(service, "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .exporter(exporter)
        .build()
        .unwrap()
}

#[derive(Default)]
struct CountingTraces(Arc<AtomicUsize>);

#[tonic::async_trait]
impl TraceService for CountingTraces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(spans, Ordering::SeqCst);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A running server.
pub struct GrpcTlsServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    received: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GrpcTlsServer {
    /// Starts a server with `tls` on a port of its own.
    pub fn start(tls: tonic::transport::ServerTlsConfig) -> GrpcTlsServer {
        let received = Arc::new(AtomicUsize::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let service = CountingTraces(received.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                tonic::transport::Server::builder()
                    .tls_config(tls)
                    .unwrap()
                    .add_service(TraceServiceServer::new(service))
                    .serve_with_incoming_shutdown(
                        tonic::transport::server::TcpIncoming::from(
                            tokio::net::TcpListener::from_std(listener).unwrap(),
                        ),
                        async {
                            let _ = stop_rx.await;
                        },
                    )
                    .await
                    .unwrap();
            });
        });
        GrpcTlsServer {
            port,
            received,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Spans received so far.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

impl Drop for GrpcTlsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
