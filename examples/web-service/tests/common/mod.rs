//! What the web-service tests share: the secrets they give the
//! instances, an instance process killed when dropped, HTTP helpers, and
//! what the collector received, decoded.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use telemetry_core::{KeyId, Telemetry};
use telemetry_exporters::file::{ExportRequest, parse_line};
use telemetry_tests::Collector;

/// The hash key the harness gives both instances, so that they agree on
/// every subject's pseudonym (raw text; at least 32 bytes).
pub const TEST_HASH_KEY: &str = "two-instance test key: not a real secret";

/// The token the services authenticate to each other with.
pub const TEST_SERVICE_TOKEN: &str = "two-instance-test-service-token";

/// An OTLP endpoint where nothing listens, for tests that look at no
/// telemetry.
pub const NO_COLLECTOR: &str = "http://127.0.0.1:9";

/// The pseudonym `telemetry.subject` of `user` under [`TEST_HASH_KEY`].
pub fn subject_key(user: &str) -> String {
    Telemetry::builder()
        .service("keys", "0")
        .hash_key(KeyId(1), TEST_HASH_KEY)
        .build()
        .expect("telemetry")
        .consent()
        .subject_key(user)
        .to_hex()
}

/// A running instance of the service, killed when dropped.
pub struct Instance {
    pub child: Child,
    pub url: String,
}

impl Instance {
    pub fn start(name: &str, otlp: &str, downstream: Option<&str>) -> Instance {
        Self::start_with(name, otlp, downstream, &[], &[])
    }

    /// Like [`start`](Self::start), with more arguments and variables.
    pub fn start_with(
        name: &str,
        otlp: &str,
        downstream: Option<&str>,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Instance {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_web-service"));
        cmd.args(["--name", name, "--listen", "127.0.0.1:0"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
            .env("TELEMETRY_HASH_KEY", TEST_HASH_KEY)
            .env_remove("TELEMETRY_HASH_KEY_FILE")
            .env("SERVICE_TOKEN", TEST_SERVICE_TOKEN)
            .env_remove("SERVICE_TOKEN_FILE")
            .env_remove("DO_NOT_TRACK")
            .env_remove("OTEL_SDK_DISABLED")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(d) = downstream {
            cmd.args(["--downstream", d]);
        }
        cmd.args(args).env_remove("CONSENT_STORE_URL");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the service");
        // What it says on stderr, kept for a failure message.
        let mut stderr = child.stderr.take().unwrap();
        let said = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Keep draining what it prints (the console log) so it never blocks.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                let said = said.join().unwrap_or_default();
                panic!("unexpected first line {line:?}; stderr:\n{said}")
            })
            .to_owned();
        Instance {
            child,
            url: format!("http://{addr}"),
        }
    }

    /// Stops the service with SIGTERM so it flushes, and waits for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

pub fn send(method: &str, url: &str, token: &str, body: Option<serde_json::Value>) -> u16 {
    let agent = agent();
    let auth = format!("Bearer {token}");
    let response = match (method, body) {
        ("POST", Some(b)) => agent.post(url).header("Authorization", &auth).send_json(b),
        ("POST", None) => agent.post(url).header("Authorization", &auth).send_empty(),
        ("DELETE", _) => agent.delete(url).header("Authorization", &auth).call(),
        _ => agent.get(url).header("Authorization", &auth).call(),
    };
    response.unwrap().status().as_u16()
}

pub fn string_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
            _ => None,
        }
    })
}

pub fn service_of(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| string_attr(&r.attributes, "service.name"))
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct SpanSeen {
    pub service: String,
    pub name: String,
    pub trace: Vec<u8>,
    pub id: Vec<u8>,
    pub parent: Vec<u8>,
    pub kind: i32,
    pub attributes: Vec<KeyValue>,
}

#[derive(Debug, Clone)]
pub struct LogSeen {
    pub service: String,
    /// The resource's `service.instance.id` (empty if none).
    pub instance: String,
    pub attributes: Vec<KeyValue>,
    pub name: String,
    pub body: String,
    pub trace: Vec<u8>,
    pub span: Vec<u8>,
    pub subject: Option<String>,
}

#[derive(Default, Debug)]
pub struct Seen {
    pub spans: Vec<SpanSeen>,
    pub logs: Vec<LogSeen>,
    pub metrics: BTreeMap<String, BTreeSet<String>>,
    /// The latest `telemetry.records.dropped` count per instance, cause
    /// and category.
    pub drops: BTreeMap<(String, String, String), i64>,
}

impl Seen {
    /// Records dropped for `cause` by `instance`, over every category.
    pub fn dropped(&self, instance: &str, cause: &str) -> i64 {
        self.drops
            .iter()
            .filter(|((i, c, _), _)| i == instance && c == cause)
            .map(|(_, n)| n)
            .sum()
    }
}

pub fn instance_of(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| string_attr(&r.attributes, "service.instance.id"))
        .unwrap_or_default()
}

pub fn seen(c: &Collector) -> Seen {
    let mut s = Seen::default();
    for line in ["traces", "logs", "metrics"]
        .into_iter()
        .flat_map(|sig| c.lines(sig))
    {
        let Ok(request) = parse_line(&line) else {
            continue;
        };
        match request {
            ExportRequest::Traces(t) => {
                for rs in t.resource_spans {
                    let service = service_of(rs.resource.as_ref());
                    for span in rs.scope_spans.into_iter().flat_map(|x| x.spans) {
                        s.spans.push(SpanSeen {
                            service: service.clone(),
                            name: span.name,
                            trace: span.trace_id,
                            id: span.span_id,
                            parent: span.parent_span_id,
                            kind: span.kind,
                            attributes: span.attributes,
                        });
                    }
                }
            }
            ExportRequest::Logs(l) => {
                for rl in l.resource_logs {
                    let service = service_of(rl.resource.as_ref());
                    let instance = instance_of(rl.resource.as_ref());
                    for r in rl.scope_logs.into_iter().flat_map(|x| x.log_records) {
                        let body = match r.body.and_then(|b| b.value) {
                            Some(any_value::Value::StringValue(b)) => b,
                            _ => String::new(),
                        };
                        s.logs.push(LogSeen {
                            service: service.clone(),
                            instance: instance.clone(),
                            subject: string_attr(&r.attributes, "telemetry.subject"),
                            attributes: r.attributes.clone(),
                            name: r.event_name,
                            body,
                            trace: r.trace_id,
                            span: r.span_id,
                        });
                    }
                }
            }
            ExportRequest::Metrics(m) => {
                for rm in m.resource_metrics {
                    let service = service_of(rm.resource.as_ref());
                    let instance = instance_of(rm.resource.as_ref());
                    for metric in rm.scope_metrics.into_iter().flat_map(|x| x.metrics) {
                        if metric.name == "telemetry.records.dropped"
                            && let Some(metric::Data::Sum(sum)) = &metric.data
                        {
                            for p in &sum.data_points {
                                let Some(number_data_point::Value::AsInt(n)) = p.value else {
                                    continue;
                                };
                                let key = (
                                    instance.clone(),
                                    string_attr(&p.attributes, "cause").unwrap_or_default(),
                                    string_attr(&p.attributes, "telemetry.category")
                                        .unwrap_or_default(),
                                );
                                let latest = s.drops.entry(key).or_default();
                                *latest = (*latest).max(n);
                            }
                        }
                        s.metrics
                            .entry(metric.name)
                            .or_default()
                            .insert(service.clone());
                    }
                }
            }
        }
    }
    s
}
