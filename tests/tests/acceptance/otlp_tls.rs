//! OTLP over TLS (feature `otlp-tls`): against a real HTTPS server (Python's
//! `ssl`) and a real gRPC TLS server (tonic), both on 127.0.0.1 with a
//! certificate made for the test. A private CA given with
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` is trusted; without it the server's
//! certificate is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::time::Duration;

use telemetry_core::*;
use telemetry_exporters::otlp::{OtlpExporter, Protocol};

use crate::tls_servers::{self, GrpcTlsServer, Https};

struct Certs {
    dir: tempfile::TempDir,
    cert_pem: String,
    key_pem: String,
}

fn certs() -> Certs {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_pem = ck.cert.pem();
    let key_pem = ck.signing_key.serialize_pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key_pem).unwrap();
    Certs {
        dir,
        cert_pem,
        key_pem,
    }
}

const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[3], "a") as f:
            f.write(self.path + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

fn https_server(certs: &Certs, log: &Path) -> Https {
    let file = |n: &str| certs.dir.path().join(n);
    Https::start(
        &file("server.py"),
        HTTPS_SERVER,
        &[&file("cert.pem"), &file("key.pem"), log],
    )
}

fn telemetry(exporter: OtlpExporter) -> Telemetry {
    tls_servers::telemetry("tls-test", exporter)
}

fn record(t: &Telemetry) {
    t.in_span("tls.span", Category::PERFORMANCE, |_| {});
    t.event("tls.event", Category::PERFORMANCE).emit();
    t.counter("tls.count", Category::PERFORMANCE)
        .build()
        .unwrap()
        .add(1, &[]);
}

#[test]
fn https_with_a_private_ca_from_the_environment() {
    let certs = certs();
    let log = certs.dir.path().join("requests.log");
    let server = https_server(&certs, &log);
    let url = format!("https://localhost:{}", server.port);
    let env = Environment::from_pairs([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.clone()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            certs.dir.path().join("cert.pem").display().to_string(),
        ),
    ]);
    let otlp = OtlpExporter::builder().env(env).build().unwrap();
    let stats = otlp.stats();
    let t = telemetry(otlp);
    record(&t);
    t.force_flush().unwrap();
    let mut paths: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    paths.sort();
    assert_eq!(paths, vec!["/v1/logs", "/v1/metrics", "/v1/traces"]);
    assert_eq!(stats.failed(), 0);

    // Without the private CA, the server's certificate is not trusted.
    let otlp = OtlpExporter::builder()
        .endpoint(url)
        .timeout(Duration::from_secs(2))
        .env(Environment::from_pairs::<&str, &str>([]))
        .build()
        .unwrap();
    let stats = otlp.stats();
    let t = telemetry(otlp);
    record(&t);
    let err = t.force_flush().unwrap_err();
    assert!(stats.failed() > 0, "{err}");
    assert!(
        t.drops()
            .get(DropCause::ExporterFailure, Category::PERFORMANCE)
            > 0
    );
}

#[test]
fn grpc_over_tls_with_a_private_ca() {
    let certs = certs();
    let server = GrpcTlsServer::start(tonic::transport::ServerTlsConfig::new().identity(
        tonic::transport::Identity::from_pem(certs.cert_pem.clone(), certs.key_pem.clone()),
    ));
    let port = server.port;
    let otlp = OtlpExporter::builder()
        .endpoint(format!("https://localhost:{port}"))
        .protocol(Protocol::Grpc)
        .ca_certificate_pem(certs.cert_pem.clone())
        .timeout(Duration::from_secs(5))
        .env(Environment::from_pairs::<&str, &str>([]))
        .build()
        .unwrap();
    let stats = otlp.stats();
    let t = telemetry(otlp);
    for _ in 0..5 {
        t.in_span("tls.grpc", Category::PERFORMANCE, |_| {});
    }
    let _ = t.force_flush();
    assert_eq!(
        server.received(),
        5,
        "spans arrive over TLS: {} failed",
        stats.failed()
    );
    // Shutdown closes the exporter's connection, so the server can stop.
    assert!(t.shutdown(Duration::from_secs(5)).is_complete());
}
