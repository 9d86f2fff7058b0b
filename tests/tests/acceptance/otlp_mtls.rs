//! Mutual TLS (feature `otlp-tls`): a real HTTPS server (Python's `ssl`,
//! OpenSSL) and a real gRPC server (tonic, rustls) that both require a
//! client certificate signed by the test's CA. With the client
//! certificate and key (from `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and
//! `_CLIENT_KEY`, or from code) the data arrives; without them the
//! handshake fails and the export is counted as failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use telemetry_core::*;
use telemetry_exporters::otlp::{OtlpExporter, Protocol};

use crate::tls_servers::{self, GrpcTlsServer, Https};

/// A CA, a server certificate for localhost and a client certificate,
/// all as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: String,
    server: (String, String),
    client: (String, String),
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    // Distinct names: OpenSSL takes a certificate whose subject is its
    // issuer's for a self-signed one.
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "otlp test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, purpose: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &issuer).unwrap().pem();
        (cert, key.serialize_pem())
    };
    let server = leaf(
        vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let client = leaf(
        vec!["otlp-client".to_owned()],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, pem) in [
        ("ca.pem", &ca),
        ("server.pem", &server.0),
        ("server-key.pem", &server.1),
        ("client.pem", &client.0),
        ("client-key.pem", &client.1),
    ] {
        std::fs::write(dir.path().join(name), pem).unwrap();
    }
    Pki {
        dir,
        ca,
        server,
        client,
    }
}

const MTLS_SERVER: &str = r#"
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[4], "a") as f:
            f.write(self.path + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
class Quiet(http.server.HTTPServer):
    def handle_error(self, request, client_address):
        pass
server = Quiet(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(sys.argv[3])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

fn mtls_server(pki: &Pki, log: &Path) -> Https {
    Https::start(
        &pki.path("server.py"),
        MTLS_SERVER,
        &[
            &pki.path("server.pem"),
            &pki.path("server-key.pem"),
            &pki.path("ca.pem"),
            log,
        ],
    )
}

fn telemetry(exporter: OtlpExporter) -> Telemetry {
    tls_servers::telemetry("mtls-test", exporter)
}

#[test]
fn https_with_a_client_certificate_from_the_environment() {
    let pki = pki();
    let log = pki.path("requests.log");
    let server = mtls_server(&pki, &log);
    let url = format!("https://localhost:{}", server.port);
    let path = |n: &str| pki.path(n).display().to_string();
    let env = Environment::from_pairs([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.clone()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", path("ca.pem")),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path("client.pem")),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path("client-key.pem")),
    ]);
    let otlp = OtlpExporter::builder().env(env).build().unwrap();
    let debug = format!("{otlp:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    let stats = otlp.stats();
    let t = telemetry(otlp);
    t.in_span("mtls.span", Category::PERFORMANCE, |_| {});
    t.force_flush().unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "/v1/traces\n");
    assert_eq!(stats.failed(), 0);

    // The CA alone is not enough: the server wants a client certificate.
    let env = Environment::from_pairs([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", path("ca.pem")),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".to_owned()),
    ]);
    let otlp = OtlpExporter::builder().env(env).build().unwrap();
    let stats = otlp.stats();
    let t = telemetry(otlp);
    t.in_span("mtls.refused", Category::PERFORMANCE, |_| {});
    assert!(t.force_flush().is_err());
    assert!(stats.failed() > 0);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "/v1/traces\n",
        "nothing more arrived"
    );
}

#[test]
fn a_client_certificate_without_its_key_is_a_clear_error() {
    let pki = pki();
    let env = Environment::from_pairs([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://localhost:4318".to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            pki.path("client.pem").display().to_string(),
        ),
    ]);
    let e = OtlpExporter::builder()
        .env(env)
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY"), "{e}");
    let env = Environment::from_pairs([
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            "/nonexistent/client.pem",
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/nonexistent/key.pem"),
    ]);
    let e = OtlpExporter::builder()
        .env(env)
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be read"), "{e}");
    let e = OtlpExporter::builder()
        .endpoint("https://localhost:4318")
        .ca_certificate_pem(pki.ca.clone())
        .client_certificate_pem(pki.client.0.clone(), "not a key")
        .env(Environment::from_pairs::<&str, &str>([]))
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("client key"), "{e}");
}

#[test]
fn grpc_with_a_client_certificate_from_code() {
    let pki = pki();
    let server = GrpcTlsServer::start(
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(
                pki.server.0.clone(),
                pki.server.1.clone(),
            ))
            .client_ca_root(tonic::transport::Certificate::from_pem(pki.ca.clone())),
    );
    let port = server.port;
    let exporter = |with_client: bool| {
        let mut b = OtlpExporter::builder()
            .endpoint(format!("https://localhost:{port}"))
            .protocol(Protocol::Grpc)
            .ca_certificate_pem(pki.ca.clone())
            .timeout(Duration::from_secs(3))
            .env(Environment::from_pairs::<&str, &str>([]));
        if with_client {
            b = b.client_certificate_pem(pki.client.0.clone(), pki.client.1.clone());
        }
        b.build().unwrap()
    };
    // Without a client certificate the server refuses the handshake.
    let refused = exporter(false);
    let refused_stats = refused.stats();
    let t = telemetry(refused);
    t.in_span("mtls.grpc.refused", Category::PERFORMANCE, |_| {});
    let _ = t.force_flush();
    assert!(refused_stats.failed() > 0);
    assert_eq!(server.received(), 0);
    t.shutdown(Duration::from_secs(5));

    let otlp = exporter(true);
    let stats = otlp.stats();
    let t = telemetry(otlp);
    for _ in 0..5 {
        t.in_span("mtls.grpc", Category::PERFORMANCE, |_| {});
    }
    let _ = t.force_flush();
    assert_eq!(
        server.received(),
        5,
        "spans arrive over mutual TLS: {} failed",
        stats.failed()
    );
    assert!(t.shutdown(Duration::from_secs(5)).is_complete());
}
