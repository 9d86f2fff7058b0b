//! OTLP/HTTP transport: one POST per signal and batch, retried with
//! exponential backoff and full jitter on retryable failures (connection
//! errors, timeouts, 429, 502, 503, 504), honouring `Retry-After`, within
//! the signal's timeout and the batch's deadline.

use std::io::{Read, Write};
use std::time::Duration;

use telemetry_core::export::{Batch, ExportError, ExportErrorKind};

use super::config::{Compression, Protocol, SignalConfig};
pub(crate) use super::retry::Attempts;
use super::retry::{self, Failure};

pub(crate) struct Transport {
    /// One agent per signal (each may trust its own CA).
    agents: [ureq::Agent; 3],
}

impl Transport {
    pub(crate) fn new(signals: &[SignalConfig; 3]) -> Result<Self, telemetry_core::ConfigError> {
        let agent = |cfg: &SignalConfig| -> Result<ureq::Agent, telemetry_core::ConfigError> {
            let builder = ureq::Agent::config_builder().http_status_as_error(false);
            #[cfg(feature = "otlp-tls")]
            let builder = if cfg.ca_pem.is_some() || cfg.client_identity.is_some() {
                let invalid = |what: &str, e: ureq::Error| {
                    telemetry_core::ConfigError::new(
                        telemetry_core::ConfigErrorKind::Exporter,
                        format!("the {what} for {} is not valid PEM: {e}", cfg.url),
                    )
                };
                let certificates = |pem: &[u8], what: &str| {
                    ureq::tls::parse_pem(pem)
                        .filter_map(|item| match item {
                            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                            Ok(_) => None,
                            Err(e) => Some(Err(e)),
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| invalid(what, e))
                };
                let mut tls = ureq::tls::TlsConfig::builder();
                if let Some(pem) = &cfg.ca_pem {
                    let certs = certificates(pem, "CA certificate")?;
                    tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
                }
                if let Some(id) = &cfg.client_identity {
                    let chain = certificates(&id.cert_pem, "client certificate")?;
                    let key = ureq::tls::PrivateKey::from_pem(&id.key_pem)
                        .map_err(|e| invalid("client key", e))?;
                    tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&chain, key)));
                }
                builder.tls_config(tls.build())
            } else {
                builder
            };
            #[cfg(not(feature = "otlp-tls"))]
            let _ = cfg;
            Ok(builder.build().into())
        };
        Ok(Transport {
            agents: [
                agent(&signals[0])?,
                agent(&signals[1])?,
                agent(&signals[2])?,
            ],
        })
    }

    /// Sends `body` to the signal's endpoint, retrying what can be retried
    /// (see [`retry::run`]). Never blocks past the batch's deadline or the
    /// signal's timeout.
    pub(crate) fn send(
        &self,
        signal: usize,
        cfg: &SignalConfig,
        batch: &Batch<'_>,
        body: Vec<u8>,
        attempts: &mut Attempts,
    ) -> Result<(), ExportError> {
        let agent = &self.agents[signal.min(2)];
        let body = match cfg.compression {
            Compression::None => body,
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&body)
                    .and_then(|()| enc.finish())
                    .map_err(|e| {
                        ExportError::new(ExportErrorKind::Encoding, format!("gzip failed: {e}"))
                    })?
            }
        };
        let content_type = match cfg.protocol {
            Protocol::HttpJson => "application/json",
            Protocol::HttpProtobuf | Protocol::Grpc => "application/x-protobuf",
        };
        retry::run(cfg, batch, attempts, |left| {
            let mut req = agent
                .post(&cfg.url)
                .config()
                .timeout_global(Some(left))
                .build()
                .header("Content-Type", content_type);
            if cfg.compression == Compression::Gzip {
                req = req.header("Content-Encoding", "gzip");
            }
            for (k, v) in &cfg.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            match req.send(&body[..]) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(());
                    }
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let mut text = String::new();
                    let _ = resp
                        .body_mut()
                        .as_reader()
                        .take(512)
                        .read_to_string(&mut text);
                    Err(Failure {
                        retryable: matches!(status, 429 | 502 | 503 | 504),
                        retry_after,
                        message: format!("{} answered {status}: {}", cfg.url, text.trim()),
                    })
                }
                Err(e) => Err(Failure {
                    retryable: true,
                    retry_after: None,
                    message: format!("cannot reach {}: {e}", cfg.url),
                }),
            }
        })
    }
}
