//! OTLP exporter configuration: from code and from the standard
//! `OTEL_EXPORTER_OTLP_*` environment variables, validated at build time.
//!
//! Precedence, for each setting and signal: a per-signal variable
//! (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) over the general one
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`) over the value set in code over the
//! default. With [`OtlpExporterBuilder::code_wins`](super::OtlpExporterBuilder::code_wins),
//! values set in code come first.

use std::time::Duration;

use telemetry_core::export::Signal;
use telemetry_core::{ConfigError, ConfigErrorKind, Environment};

/// The wire protocol.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (the default, port 4318).
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies.
    HttpJson,
    /// OTLP/gRPC (port 4317; cargo feature `otlp-grpc`).
    Grpc,
}

impl Protocol {
    fn parse(s: &str, var: &str) -> Result<Protocol, ConfigError> {
        match s.trim() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Ok(Protocol::Grpc),
            other => Err(invalid(format!(
                "{var} is `{other}`; use `grpc`, `http/protobuf` or `http/json`"
            ))),
        }
    }
}

/// Body compression.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Compression {
    /// None.
    None,
    /// gzip.
    Gzip,
}

/// The name of `signal` in per-signal environment variables.
fn env_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "TRACES",
        Signal::Logs => "LOGS",
        Signal::Metrics => "METRICS",
    }
}

/// The path appended to a base endpoint for `signal`.
pub fn signal_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/v1/traces",
        Signal::Logs => "/v1/logs",
        Signal::Metrics => "/v1/metrics",
    }
}

/// Settings given in code (each optional).
#[derive(Clone, Default)]
pub(crate) struct CodeSettings {
    pub(crate) endpoint: Option<String>,
    pub(crate) signal_endpoints: Vec<(Signal, String)>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Option<Compression>,
    pub(crate) certificate: Option<Vec<u8>>,
    pub(crate) client_identity: Option<ClientIdentity>,
    pub(crate) code_wins: bool,
}

/// A client certificate (chain) and its private key, PEM, for mutual TLS.
/// `Debug` shows their sizes only: the key is a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &self.cert_pem.len())
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Header names with their values hidden: header values are credentials
/// (API keys, bearer tokens) and never appear in `Debug` output or errors.
struct RedactedHeaders<'a>(&'a [(String, String)]);

impl std::fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, _)| (k, "<redacted>")))
            .finish()
    }
}

impl std::fmt::Debug for CodeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeSettings")
            .field("endpoint", &self.endpoint)
            .field("signal_endpoints", &self.signal_endpoints)
            .field("protocol", &self.protocol)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("certificate", &self.certificate.as_ref().map(Vec::len))
            .field("client_identity", &self.client_identity)
            .field("code_wins", &self.code_wins)
            .finish()
    }
}

impl std::fmt::Debug for SignalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalConfig")
            .field("url", &self.url)
            .field("protocol", &self.protocol)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("client_identity", &self.client_identity)
            .finish()
    }
}

/// The resolved settings of one signal. Its `Debug` output shows header
/// names only, never their values.
#[derive(Clone, PartialEq)]
pub struct SignalConfig {
    /// Full URL, including the signal path.
    pub url: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Timeout of one export, retries included.
    pub timeout: Duration,
    /// Compression.
    pub compression: Compression,
    /// PEM certificates of the CA to trust for https (besides the webpki roots).
    pub ca_pem: Option<Vec<u8>>,
    /// The client certificate and key presented for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
}

pub(crate) const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
pub(crate) const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn invalid(msg: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Exporter, msg)
}

/// Checks `http://host[:port][/path]`.
pub(crate) fn validate_url(url: &str, what: &str) -> Result<(), ConfigError> {
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if let Some(r) = url.strip_prefix("https://") {
        if !cfg!(feature = "otlp-tls") {
            return Err(invalid(format!(
                "{what} is `{url}`, but telemetry-exporters was built without its `otlp-tls` feature; enable it, or use http://"
            )));
        }
        r
    } else {
        return Err(invalid(format!(
            "{what} is `{url}`, which is not an http:// or https:// URL; use e.g. http://localhost:4318"
        )));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    if host.is_empty() {
        return Err(invalid(format!(
            "{what} is `{url}`, which has no host; use e.g. http://localhost:4318"
        )));
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(invalid(format!(
            "{what} is `{url}`, whose port `{p}` is not a number from 1 to 65535"
        )));
    }
    Ok(())
}

/// Parses `key1=value1,key2=value2`. Errors name the entry by its
/// position, never its text: the variable holds credentials.
fn parse_headers(s: &str, var: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (n, pair) in s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(invalid(format!(
                "{var} has an entry (number {}) that is not `key=value`; write headers as \
                 `key1=value1,key2=value2` (the entry's text is not shown: it may be a credential)",
                n + 1
            )));
        };
        let key = k.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(invalid(format!(
                "{var} has an invalid header name in entry number {}: use letters, digits, \
                 `-`, `_` and `.` only (the entry's text is not shown: it may be a credential)",
                n + 1
            )));
        }
        out.push((key.to_owned(), percent_decode(v.trim())));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_timeout(s: &str, var: &str) -> Result<Duration, ConfigError> {
    match s.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(invalid(format!(
            "{var} is `{s}`; give the timeout in milliseconds, a whole number above 0 (e.g. 10000)"
        ))),
    }
}

fn parse_compression(s: &str, var: &str) -> Result<Compression, ConfigError> {
    match s.trim() {
        "gzip" => Ok(Compression::Gzip),
        "none" => Ok(Compression::None),
        other => Err(invalid(format!("{var} is `{other}`; use `gzip` or `none`"))),
    }
}

/// Resolves the settings of every signal.
pub(crate) fn resolve(
    code: &CodeSettings,
    env: &Environment,
) -> Result<[SignalConfig; 3], ConfigError> {
    let mut out = Vec::with_capacity(3);
    for signal in Signal::ALL {
        out.push(resolve_signal(code, env, signal)?);
    }
    match <[SignalConfig; 3]>::try_from(out) {
        Ok(a) => Ok(a),
        Err(_) => Err(invalid("internal: three signals expected".to_owned())),
    }
}

fn resolve_signal(
    code: &CodeSettings,
    env: &Environment,
    signal: Signal,
) -> Result<SignalConfig, ConfigError> {
    let var = |name: &str| format!("OTEL_EXPORTER_OTLP_{}_{name}", env_name(signal));
    let general = |name: &str| format!("OTEL_EXPORTER_OTLP_{name}");
    // The environment's value for a setting: per-signal first, then general.
    let from_env = |name: &str| -> Option<(String, String)> {
        let specific = var(name);
        if let Some(v) = env.get(&specific).filter(|v| !v.trim().is_empty()) {
            return Some((specific, v));
        }
        let g = general(name);
        env.get(&g).filter(|v| !v.trim().is_empty()).map(|v| (g, v))
    };
    let code_wins = code.code_wins;

    let protocol = match (code.protocol, from_env("PROTOCOL")) {
        (Some(p), _) if code_wins => p,
        (_, Some((name, v))) => Protocol::parse(&v, &name)?,
        (Some(p), None) => p,
        (None, None) => Protocol::HttpProtobuf,
    };
    // Endpoint: a per-signal value is used as is; over HTTP a base gets the
    // signal's path, over gRPC it is used as is.
    let path = if protocol == Protocol::Grpc {
        ""
    } else {
        signal_path(signal)
    };
    let code_signal = code
        .signal_endpoints
        .iter()
        .find(|(s, _)| *s == signal)
        .map(|(_, e)| e.clone());
    let code_url = code_signal.clone().or_else(|| {
        code.endpoint
            .as_ref()
            .map(|e| format!("{}{}", e.trim_end_matches('/'), path))
    });
    let env_url = match env.get(&var("ENDPOINT")).filter(|v| !v.trim().is_empty()) {
        Some(v) => Some((var("ENDPOINT"), v.trim().to_owned())),
        None => env
            .get(&general("ENDPOINT"))
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                (
                    general("ENDPOINT"),
                    format!("{}{}", v.trim().trim_end_matches('/'), path),
                )
            }),
    };
    let url = match (code_url, env_url) {
        (Some(c), _) if code_wins => c,
        (_, Some((name, e))) => {
            validate_url(&e, &name)?;
            e
        }
        (Some(c), None) => c,
        (None, None) if protocol == Protocol::Grpc => DEFAULT_GRPC_ENDPOINT.to_owned(),
        (None, None) => format!("{DEFAULT_ENDPOINT}{path}"),
    };
    validate_url(
        &url,
        &format!("the {} endpoint", env_name(signal).to_lowercase()),
    )?;

    let timeout = match (code.timeout, from_env("TIMEOUT")) {
        (Some(t), _) if code_wins => t,
        (_, Some((name, v))) => parse_timeout(&v, &name)?,
        (Some(t), None) => t,
        (None, None) => DEFAULT_TIMEOUT,
    };
    let compression = match (code.compression, from_env("COMPRESSION")) {
        (Some(c), _) if code_wins => c,
        (_, Some((name, v))) => parse_compression(&v, &name)?,
        (Some(c), None) => c,
        (None, None) => Compression::None,
    };
    // Headers merge: environment headers, then code headers (code replaces
    // a header of the same name only when it wins).
    let mut headers = match from_env("HEADERS") {
        Some((name, v)) => parse_headers(&v, &name)?,
        None => Vec::new(),
    };
    for (k, v) in &code.headers {
        match headers
            .iter_mut()
            .find(|(hk, _)| hk.eq_ignore_ascii_case(k))
        {
            Some(h) if code_wins => h.1 = v.clone(),
            Some(_) => {}
            None => headers.push((k.clone(), v.clone())),
        }
    }
    let certificate = match (&code.certificate, from_env("CERTIFICATE")) {
        (Some(pem), _) if code_wins => Some(pem.clone()),
        (_, Some((name, path))) => Some(std::fs::read(path.trim()).map_err(|e| {
            invalid(format!(
                "{name} is `{path}`, which cannot be read ({e}); give the path of a PEM file"
            ))
        })?),
        (Some(pem), None) => Some(pem.clone()),
        (None, None) => None,
    };
    let read = |name: &str, path: &str| {
        std::fs::read(path.trim()).map_err(|e| {
            invalid(format!(
                "{name} is `{path}`, which cannot be read ({e}); give the path of a PEM file"
            ))
        })
    };
    let client_identity = match (
        &code.client_identity,
        from_env("CLIENT_CERTIFICATE"),
        from_env("CLIENT_KEY"),
    ) {
        (Some(id), _, _) if code_wins => Some(id.clone()),
        (_, Some((cert_name, cert)), Some((key_name, key))) => Some(ClientIdentity {
            cert_pem: read(&cert_name, &cert)?,
            key_pem: read(&key_name, &key)?,
        }),
        (_, Some((name, _)), None) => {
            return Err(invalid(format!(
                "{name} is set but no client key is: set OTEL_EXPORTER_OTLP_CLIENT_KEY to the \
                 PEM file of its private key (mutual TLS needs both)"
            )));
        }
        (_, None, Some((name, _))) => {
            return Err(invalid(format!(
                "{name} is set but no client certificate is: set \
                 OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE to its PEM file (mutual TLS needs both)"
            )));
        }
        (id, None, None) => id.clone(),
    };
    Ok(SignalConfig {
        url,
        protocol,
        headers,
        timeout,
        compression,
        ca_pem: certificate,
        client_identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    fn err(code: &CodeSettings, pairs: &[(&str, &str)]) -> String {
        resolve(code, &env(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn credentials_never_appear_in_debug_output() {
        let secret = "sk-live-4f9a0c";
        let env = env(&[("OTEL_EXPORTER_OTLP_HEADERS", &format!("api-key={secret}"))]);
        assert!(!format!("{env:?}").contains(secret), "{env:?}");
        let code = CodeSettings {
            headers: vec![("authorization".into(), format!("Bearer {secret}"))],
            ..CodeSettings::default()
        };
        assert!(!format!("{code:?}").contains(secret), "{code:?}");
        let resolved = resolve(&code, &env).unwrap();
        for signal in &resolved {
            let debug = format!("{signal:?}");
            assert!(!debug.contains(secret), "{debug}");
            assert!(
                debug.contains("api-key") && debug.contains("authorization"),
                "{debug}"
            );
        }
        let builder = crate::otlp::OtlpExporter::builder()
            .header("authorization", format!("Bearer {secret}"))
            .env(env.clone());
        assert!(!format!("{builder:?}").contains(secret), "{builder:?}");
        let exporter = builder.build().unwrap();
        assert!(!format!("{exporter:?}").contains(secret));
        assert!(!format!("{:?}", exporter.signal_config(Signal::Logs)).contains(secret));
    }

    #[test]
    fn header_values_decode_only_complete_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        // Not an escape (a sign, one digit, a non-hex digit): kept as text.
        for kept in ["%+1", "%-f", "%2", "%", "%zz"] {
            assert_eq!(percent_decode(kept), kept);
        }
    }

    #[test]
    fn defaults() {
        let [t, l, m] = resolve(&CodeSettings::default(), &env(&[])).unwrap();
        assert_eq!(t.url, "http://localhost:4318/v1/traces");
        assert_eq!(l.url, "http://localhost:4318/v1/logs");
        assert_eq!(m.url, "http://localhost:4318/v1/metrics");
        assert_eq!(
            (t.protocol, t.timeout, t.compression),
            (Protocol::HttpProtobuf, DEFAULT_TIMEOUT, Compression::None)
        );
    }

    #[test]
    fn environment_over_code_over_default_and_per_signal_over_general() {
        let code = CodeSettings {
            endpoint: Some("http://code:1".into()),
            timeout: Some(Duration::from_secs(3)),
            headers: vec![("x-team".into(), "code".into())],
            ..Default::default()
        };
        let pairs = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318/"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://logs:9/custom/path",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "700"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-team=env,authorization=Bearer%20abc",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ];
        let [t, l, m] = resolve(&code, &env(&pairs)).unwrap();
        assert_eq!(
            t.url, "http://env:4318/v1/traces",
            "general endpoint gets the signal path"
        );
        assert_eq!(
            l.url, "http://logs:9/custom/path",
            "a per-signal endpoint is used as is"
        );
        assert_eq!(t.timeout, Duration::from_millis(2500));
        assert_eq!(m.timeout, Duration::from_millis(700));
        assert_eq!(t.protocol, Protocol::HttpJson);
        assert_eq!(l.protocol, Protocol::HttpProtobuf);
        assert_eq!(t.compression, Compression::Gzip);
        assert_eq!(
            t.headers,
            vec![
                ("x-team".into(), "env".into()),
                ("authorization".into(), "Bearer abc".into())
            ]
        );
        // Code wins only when asked.
        let [t, ..] = resolve(
            &CodeSettings {
                code_wins: true,
                ..code
            },
            &env(&pairs),
        )
        .unwrap();
        assert_eq!(t.url, "http://code:1/v1/traces");
        assert_eq!(t.timeout, Duration::from_secs(3));
        assert_eq!(t.headers[0], ("x-team".into(), "code".into()));
    }

    #[test]
    fn grpc_endpoints_take_no_path_and_default_to_4317() {
        let [t, ..] = resolve(
            &CodeSettings::default(),
            &env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]),
        )
        .unwrap();
        assert_eq!(
            (t.url.as_str(), t.protocol),
            ("http://localhost:4317", Protocol::Grpc)
        );
        let pairs = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
        ];
        let [t, ..] = resolve(&CodeSettings::default(), &env(&pairs)).unwrap();
        assert_eq!(t.url, "http://c:4317");
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let c = CodeSettings::default();
        let cases: &[(&str, &str, &str)] = &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "localhost:4318",
                "not an http:// or https:// URL",
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://:4318/v1/traces",
                "has no host",
            ),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://host:99999",
                "port `99999`",
            ),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "http/thrift",
                "use `grpc`, `http/protobuf` or `http/json`",
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
                "udp",
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL is `udp`",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "sk-live-4f9a",
                "not `key=value`",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api key=sk-live-4f9a",
                "invalid header name",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", "in milliseconds"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
                "0",
                "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT is `0`",
            ),
            (
                "OTEL_EXPORTER_OTLP_COMPRESSION",
                "zstd",
                "use `gzip` or `none`",
            ),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                "/nonexistent/ca.pem",
                "cannot be read",
            ),
        ];
        for (var, value, needle) in cases {
            let e = err(&c, &[(var, value)]);
            assert!(e.contains(needle), "{var}={value}: {e}");
            if var.contains("HEADERS") {
                assert!(!e.contains(value), "the error echoes a header entry: {e}");
            }
            assert!(
                e.contains(var) || e.contains("endpoint"),
                "{var}={value}: {e}"
            );
        }
        let e = resolve(
            &CodeSettings {
                endpoint: Some("ftp://x".into()),
                ..Default::default()
            },
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not an http:// or https:// URL"), "{e}");
        let https = resolve(
            &CodeSettings {
                endpoint: Some("https://collector:4318".into()),
                ..Default::default()
            },
            &env(&[]),
        );
        assert_eq!(
            https.is_ok(),
            cfg!(feature = "otlp-tls"),
            "https needs the otlp-tls feature: {https:?}"
        );
    }
}
