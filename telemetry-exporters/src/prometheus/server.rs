//! The endpoint's own small listener: `GET /metrics` (and `/`) on a
//! thread of its own, over `tiny_http` (a synchronous HTTP/1.1 server, so
//! the endpoint needs no async runtime in the service).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::PrometheusExporter;

/// A running endpoint; stops when dropped (or with [`stop`](Self::stop)).
pub struct PrometheusServer {
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PrometheusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl PrometheusServer {
    pub(crate) fn start(
        exporter: PrometheusExporter,
        addr: SocketAddr,
    ) -> std::io::Result<PrometheusServer> {
        let http = tiny_http::Server::http(addr).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("cannot listen on {addr} for Prometheus scrapes: {e}"),
            )
        })?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("the Prometheus listener has no IP address"))?;
        let http = Arc::new(http);
        let thread = std::thread::Builder::new()
            .name("telemetry-prometheus".into())
            .spawn({
                let http = Arc::clone(&http);
                move || serve(&http, &exporter)
            })?;
        Ok(PrometheusServer {
            http,
            addr,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port chosen when asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and waits for the thread.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.shut();
    }
}

fn serve(http: &tiny_http::Server, exporter: &PrometheusExporter) {
    // `incoming_requests` ends when the server is unblocked.
    for request in http.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("");
        let response = match (request.method(), path) {
            (tiny_http::Method::Get | tiny_http::Method::Head, "/metrics" | "/") => {
                let accept = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Accept"))
                    .map(|h| h.value.as_str().to_owned());
                let scrape = exporter.scrape(accept.as_deref());
                with_type(
                    tiny_http::Response::from_string(scrape.body),
                    scrape.content_type,
                )
            }
            (tiny_http::Method::Get | tiny_http::Method::Head, _) => with_type(
                tiny_http::Response::from_string("not found: metrics are at /metrics\n")
                    .with_status_code(404),
                "text/plain; charset=utf-8",
            ),
            _ => with_type(
                tiny_http::Response::from_string("only GET /metrics is served here\n")
                    .with_status_code(405),
                "text/plain; charset=utf-8",
            ),
        };
        // A scraper that went away is not an error worth reporting.
        let _ = request.respond(response);
    }
}

fn with_type(
    response: tiny_http::Response<std::io::Cursor<Vec<u8>>>,
    content_type: &str,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    match tiny_http::Header::from_bytes("Content-Type", content_type) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
}
