//! Helpers for the cross-crate integration tests in `tests/tests/` and the
//! other crates' tests: a real OpenTelemetry collector (rotel, installed
//! from PyPI by `tests/collector/install.sh`) started on 127.0.0.1 for a
//! test, a tiny HTTP client for posting OTLP requests to it, a real
//! PostgreSQL server ([`postgres`]), a real Prometheus and Alertmanager
//! with a webhook receiver and promtool ([`prometheus`]), a TCP proxy
//! that can be cut ([`proxy`]) and a real headless Chromium driven over
//! WebDriver, with axe-core for accessibility checks ([`browser`]).

pub mod browser;
pub mod postgres;
pub mod prometheus;
pub mod proxy;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs an install script that prints `KEY=PATH` lines (the Prometheus
/// and browser harnesses' `install.sh`) and returns the paths of `keys`,
/// in order; `name` names the script in errors.
pub fn run_install_script(
    script: &Path,
    name: &str,
    keys: &[&str],
) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("bash")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{name} failed ({}): {stdout}{stderr}", out.status));
    }
    keys.iter()
        .map(|key| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} printed no {key}=: {stdout}{stderr}"))
        })
        .collect()
}

/// The repository's `tests/collector` directory.
pub fn collector_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("collector")
}

/// A free TCP port on 127.0.0.1 (rotel does not accept port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A running collector; stopped when dropped.
#[derive(Debug)]
pub struct Collector {
    /// Where the collector writes what it receives (`traces.jsonl`, ...).
    pub out: PathBuf,
    /// OTLP/gRPC port.
    pub grpc_port: u16,
    /// OTLP/HTTP port.
    pub http_port: u16,
    _dir: tempfile::TempDir,
}

impl Collector {
    /// Installs (if needed) and starts a collector on free ports.
    pub fn start() -> Result<Collector, String> {
        Self::start_on(None)
    }

    /// Starts a collector on the given ports (gRPC, HTTP), or free ones.
    pub fn start_on(ports: Option<(u16, u16)>) -> Result<Collector, String> {
        let scripts = collector_scripts();
        let install = Command::new("bash")
            .arg(scripts.join("install.sh"))
            .output()
            .map_err(|e| format!("cannot run install.sh: {e}"))?;
        if !install.status.success() {
            return Err(format!(
                "collector install failed: {}",
                String::from_utf8_lossy(&install.stderr)
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = dir.path().to_path_buf();
        for _attempt in 0..5 {
            let (grpc_port, http_port) = ports.unwrap_or_else(|| (free_port(), free_port()));
            let started = Command::new("bash")
                .arg(scripts.join("start.sh"))
                .arg(&out)
                .arg(grpc_port.to_string())
                .arg(http_port.to_string())
                .env("COLLECTOR_PARENT_PID", std::process::id().to_string())
                .output()
                .map_err(|e| format!("cannot run start.sh: {e}"))?;
            if started.status.success() {
                return Ok(Collector {
                    out,
                    grpc_port,
                    http_port,
                    _dir: dir,
                });
            }
            eprintln!(
                "collector start failed (retrying on other ports): {}{}",
                String::from_utf8_lossy(&started.stdout),
                String::from_utf8_lossy(&started.stderr)
            );
        }
        Err("the collector did not start; see the messages above".into())
    }

    /// The OTLP/HTTP base URL.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// POSTs `body` to `path` on the OTLP/HTTP port; returns the status code.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<u16, String> {
        http_post(self.http_port, path, content_type, body)
    }

    /// The lines the collector wrote for `signal` (`traces`, `logs`, `metrics`).
    pub fn lines(&self, signal: &str) -> Vec<String> {
        std::fs::read_to_string(self.out.join(format!("{signal}.jsonl")))
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Waits until `done` holds for what has arrived, or `timeout` passes.
    pub fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&Collector) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if done(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        done(self)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(collector_scripts().join("stop.sh"))
            .arg(&self.out)
            .output();
    }
}

/// A minimal HTTP/1.1 POST to 127.0.0.1 (the tests need nothing more).
pub fn http_post(port: u16, path: &str, content_type: &str, body: &[u8]) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    stream.write_all(body).map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("malformed HTTP response: {text}"))
}

/// The README's Rust snippets, compiled and run as documentation tests, so
/// every snippet works as written.
#[doc = include_str!("../../README.md")]
mod readme {}
