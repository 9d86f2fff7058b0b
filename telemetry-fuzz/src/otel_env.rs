//! The `OTEL_*` environment (and `DO_NOT_TRACK`), as the telemetry builder
//! and the OTLP exporter builder read it.

use std::time::Duration;

use telemetry_core::export::Signal;
use telemetry_core::{Category, ConsentPolicy, Environment, Telemetry};
use telemetry_exporters::otlp::OtlpExporter;

use crate::input::{Bytes, scratch_dir};

/// Marks every header value given in `OTEL_EXPORTER_OTLP_*HEADERS` (and in
/// code): it must never be echoed in an error or `Debug` output.
const CANARY: &str = "c4n4ry5ecret";

const SETTINGS: [&str; 6] = [
    "ENDPOINT",
    "PROTOCOL",
    "HEADERS",
    "TIMEOUT",
    "COMPRESSION",
    "CERTIFICATE",
];

/// The variables a fuzz input can set, by index.
fn variables() -> Vec<String> {
    let mut vars: Vec<String> = [
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
        "DO_NOT_TRACK",
    ]
    .map(str::to_owned)
    .into();
    for signal in ["", "TRACES_", "LOGS_", "METRICS_"] {
        for setting in SETTINGS {
            vars.push(format!("OTEL_EXPORTER_OTLP_{signal}{setting}"));
        }
    }
    vars
}

/// `value` with the canary at the start of every entry's value (after its
/// first `=`), or of the entry if it has none.
fn mark_headers(value: &str) -> String {
    value
        .split(',')
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => format!("{k}={CANARY}{v}"),
            None => format!("{CANARY}{entry}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A certificate variable names a file: never one the input names (it
/// could be `/dev/zero`), but a missing file, or a file holding the value.
fn certificate_path(value: &str) -> String {
    if value.trim().is_empty() {
        value.to_owned()
    } else if value.starts_with('x') {
        "/nonexistent/telemetry-fuzz/ca.pem".to_owned()
    } else {
        let path = scratch_dir().join("ca.pem");
        let written = std::fs::write(&path, value);
        assert!(written.is_ok(), "{written:?}");
        path.to_string_lossy().into_owned()
    }
}

/// The inodes of this process's open sockets (Linux; elsewhere none).
fn sockets() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
                    Some(inode.to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether any of `inodes` is a network socket (TCP or UDP, v4 or v6). A
/// runtime may open Unix socket pairs of its own (tokio's signal driver,
/// when a crate in the build enables it), which reach no network.
fn any_network(inodes: &[&String]) -> bool {
    ["tcp", "tcp6", "udp", "udp6"].iter().any(|table| {
        std::fs::read_to_string(format!("/proc/self/net/{table}")).is_ok_and(|text| {
            // The inode is the tenth column; the first line is the header.
            text.lines()
                .skip(1)
                .filter_map(|line| line.split_whitespace().nth(9))
                .any(|inode| inodes.iter().any(|i| i.as_str() == inode))
        })
    })
}

fn is(env: &Environment, key: &str, truthy: &[&str]) -> bool {
    env.get(key)
        .is_some_and(|v| truthy.iter().any(|t| v.trim().eq_ignore_ascii_case(t)))
}

/// Builds a `Telemetry` under `env`, and checks the flags and that no
/// header value leaks.
fn telemetry(env: &Environment, leaks: &impl Fn(&str, &str)) {
    let builder = Telemetry::builder()
        .service("telemetry-fuzz", "1.0")
        .consent(ConsentPolicy::opt_out())
        .env(env.clone());
    leaks("the telemetry builder's Debug", &format!("{builder:?}"));
    match builder.build() {
        Ok(t) => {
            assert!(
                !t.resource().service_name().trim().is_empty(),
                "the environment emptied the service name"
            );
            if is(env, "OTEL_SDK_DISABLED", &["true"]) {
                for c in Category::BUILTIN {
                    assert!(!t.enabled(c), "OTEL_SDK_DISABLED, yet {c} is on");
                }
            }
            if is(env, "DO_NOT_TRACK", &["1", "true", "yes"]) {
                assert!(
                    !t.enabled(Category::BUSINESS),
                    "DO_NOT_TRACK, yet business is on"
                );
            }
            t.shutdown(Duration::from_millis(100));
        }
        Err(e) => {
            leaks("a telemetry error", &e.to_string());
            leaks("a telemetry error's Debug", &format!("{e:?}"));
        }
    }
}

/// Decodes `data` into variables (records separated by byte `0xff`: a byte
/// choosing the variable, then its value, lossy UTF-8; header values
/// marked with a canary; certificate paths replaced by safe ones), builds
/// a `Telemetry` and an `OtlpExporter` from them, and checks that:
///
/// - neither panics; an error is a `ConfigError`;
/// - no error message and no `Debug` output (of the builder, the exporter,
///   a signal's settings, the error) holds a header value;
/// - building the exporter opens no network socket;
/// - the service keeps a non-empty name;
/// - `OTEL_SDK_DISABLED=true` turns every category off, and
///   `DO_NOT_TRACK=1` denies the categories that need consent.
pub fn otel_env(data: &[u8]) {
    let names = variables();
    let mut pairs: Vec<(String, String)> = Vec::new();
    // The canary is checked only if the input does not hold it itself (in
    // another variable, or in a header name, which is not secret).
    let mut check = true;
    for record in data.split(|&b| b == 0xff).take(12) {
        let mut b = Bytes::new(record);
        if b.is_empty() {
            continue;
        }
        let name = &names[usize::from(b.u8()) % names.len()];
        let value = String::from_utf8_lossy(b.rest()).into_owned();
        check &= !value.contains(CANARY);
        let value = if name.ends_with("HEADERS") {
            mark_headers(&value)
        } else if name.ends_with("CERTIFICATE") {
            certificate_path(&value)
        } else {
            value
        };
        pairs.push((name.clone(), value));
    }
    let leaks = |what: &str, text: &str| {
        assert!(
            !check || !text.contains(CANARY),
            "a header value shows in {what}: {text}\nvariables: {pairs:?}"
        );
    };
    let env = Environment::from_pairs(pairs.clone());
    leaks("the environment's Debug", &format!("{env:?}"));

    // Building a `Telemetry` starts a thread: only when the input sets a
    // variable it reads.
    if pairs.iter().any(|(k, _)| !k.starts_with("OTEL_EXPORTER_")) {
        telemetry(&env, &leaks);
    }

    let builder = OtlpExporter::builder()
        .header("authorization", format!("Bearer {CANARY}"))
        .env(env);
    leaks("the exporter builder's Debug", &format!("{builder:?}"));
    let before = sockets();
    let built = builder.build();
    let after = sockets();
    let opened: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    assert!(
        opened.is_empty() || !any_network(&opened),
        "building the exporter opened a network socket"
    );
    match built {
        Ok(exporter) => {
            leaks("the exporter's Debug", &format!("{exporter:?}"));
            for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
                let config = exporter.signal_config(signal);
                leaks("a signal's settings", &format!("{config:?}"));
                assert!(
                    config.url.starts_with("http://") && !config.timeout.is_zero(),
                    "{config:?}"
                );
            }
        }
        Err(e) => {
            leaks("an exporter error", &e.to_string());
            leaks("an exporter error's Debug", &format!("{e:?}"));
        }
    }
    let _ = std::fs::remove_file(scratch_dir().join("ca.pem"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_tcp_socket_is_seen_and_a_unix_pair_is_not() {
        let before = sockets();
        let pair = std::os::unix::net::UnixStream::pair();
        let after = sockets();
        let opened: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
        assert!(pair.is_ok() && !opened.is_empty() && !any_network(&opened));
        let listener = std::net::TcpListener::bind("127.0.0.1:0");
        let after = sockets();
        let opened: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
        assert!(listener.is_ok() && any_network(&opened));
    }
}
