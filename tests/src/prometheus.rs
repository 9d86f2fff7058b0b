//! A real Prometheus and Alertmanager for a test (Debian's packages,
//! installed if missing by `tests/prometheus/install.sh`), each started on
//! 127.0.0.1 on a free port with a throw-away directory under the target
//! directory, and killed (and the directory removed) when dropped. A
//! watchdog also kills them if the test process dies first.
//!
//! Also: [`WebhookReceiver`], a tiny HTTP server that keeps what
//! Alertmanager posts to it, and [`promtool`] with helpers for
//! `promtool check metrics`, `check rules` and `test rules`.
//!
//! Never uses the ports of Debian's own services (9090, 9093, 9094, 9100):
//! the install keeps those services from starting, and every process here
//! listens on a free port of 127.0.0.1 (Alertmanager's cluster port is
//! disabled).
//!
//! ```no_run
//! use std::time::Duration;
//! use telemetry_tests::prometheus::{Alertmanager, Prometheus, PrometheusConfig, WebhookReceiver};
//!
//! let hook = WebhookReceiver::start()?;
//! let am = Alertmanager::start(&hook.url())?;
//! let prom = Prometheus::start(
//!     PrometheusConfig::default()
//!         .scrape("app", "127.0.0.1:8080", "/metrics")
//!         .rules_yaml("groups: [{name: g, rules: [{alert: Up, expr: vector(1)}]}]")
//!         .alertmanager(&am.address()),
//! )?;
//! let _up = prom.wait_query_nonempty("up{job=\"app\"} == 1", Duration::from_secs(20))?;
//! let _alert = hook.wait_for_alert("Up", Duration::from_secs(30))?;
//! # Ok::<(), String>(())
//! ```

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::free_port;

/// The repository's `tests/prometheus` directory.
pub fn prometheus_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus")
}

/// Where the binaries are (from `install.sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `prometheus` (Debian: `/usr/bin/prometheus`).
    pub prometheus: PathBuf,
    /// `promtool` (Debian: `/usr/bin/promtool`).
    pub promtool: PathBuf,
    /// `alertmanager` (Debian: `/usr/bin/prometheus-alertmanager`).
    pub alertmanager: PathBuf,
}

/// Runs `tests/prometheus/install.sh` (once per process; later calls give
/// the first answer) and returns the paths it printed.
pub fn install() -> Result<Binaries, String> {
    static INSTALLED: OnceLock<Result<Binaries, String>> = OnceLock::new();
    INSTALLED.get_or_init(run_install).clone()
}

fn run_install() -> Result<Binaries, String> {
    let paths = crate::run_install_script(
        &prometheus_scripts().join("install.sh"),
        "tests/prometheus/install.sh",
        &["PROMETHEUS", "PROMTOOL", "ALERTMANAGER"],
    )?;
    let mut paths = paths.into_iter();
    let mut next = || {
        paths
            .next()
            .ok_or_else(|| "install.sh printed too few paths".to_owned())
    };
    Ok(Binaries {
        prometheus: next()?,
        promtool: next()?,
        alertmanager: next()?,
    })
}

/// The directory for the throw-away directories: `CARGO_TARGET_TMPDIR` if
/// set at run time, else `<target>/tmp` of the running test binary, else
/// the system's temporary directory.
fn scratch_base() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .or_else(|| {
            // <target>[/<triple>]/<profile>/deps/<test binary>; cargo marks
            // <target> with CACHEDIR.TAG.
            let exe = std::env::current_exe().ok()?;
            exe.ancestors()
                .skip(1)
                .take(4)
                .find(|d| d.join("CACHEDIR.TAG").is_file())
                .map(|target| target.join("tmp"))
        })
        .unwrap_or_else(std::env::temp_dir);
    match std::fs::create_dir_all(&base) {
        Ok(()) => base,
        Err(_) => std::env::temp_dir(),
    }
}

fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir, String> {
    let base = scratch_base();
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .map_err(|e| format!("cannot create a directory in {}: {e}", base.display()))
}

/// Polls `check` every 100 ms until it gives `Ok(Some(_))` or `timeout`
/// passes. `Ok(None)` and `Err(_)` both mean "not yet"; the last error is
/// in the timeout message, which names `what`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        match check() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            let last = if last.is_empty() {
                String::new()
            } else {
                format!(" (last error: {last})")
            };
            return Err(format!(
                "timed out after {timeout:?} waiting for {what}{last}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- HTTP client ----------------------------------------------------------------------------

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        // Prometheus answers 400/422/503 with a JSON error body: read it.
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        // Never through an HTTP(S)_PROXY from the environment: 127.0.0.1 only.
        .proxy(None)
        .build()
        .into()
}

/// GET; gives the status and the body.
fn get(agent: &ureq::Agent, url: &str, params: &[(&str, &str)]) -> Result<(u16, String), String> {
    let mut req = agent.get(url);
    for (k, v) in params {
        req = req.query(k, v);
    }
    let mut resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("GET {url}: reading the body: {e}"))?;
    Ok((status, body))
}

fn get_json(agent: &ureq::Agent, url: &str, params: &[(&str, &str)]) -> Result<Value, String> {
    let (status, body) = get(agent, url, params)?;
    serde_json::from_str(&body)
        .map_err(|e| format!("GET {url} {params:?}: HTTP {status}, not JSON ({e}): {body}"))
}

fn unix_seconds(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => format!("{}.{:03}", d.as_secs(), d.subsec_millis()),
        Err(_) => "0".into(),
    }
}

/// A Prometheus/Alertmanager duration (`1500ms`); zero is refused.
fn prom_duration(what: &str, d: Duration) -> Result<String, String> {
    let ms = d.as_millis();
    if ms == 0 {
        return Err(format!("{what} must be at least 1 ms, not {d:?}"));
    }
    Ok(format!("{ms}ms"))
}

// ---- a process with a watchdog ---------------------------------------------------------------

/// Ends `$2` (only if its command line still names `$3`, against pid
/// reuse) and removes the directory `$3` once the test process `$1` is
/// gone. Ignores the signals a terminal sends to the whole process group.
const WATCHDOG: &str = r#"
trap '' HUP INT QUIT
parent="$1" child="$2" dir="$3"
alive() {
    local s
    s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    s="${s##*) }"
    [ "${s%% *}" != Z ]
}
ours() { alive "$child" && tr '\0' '\n' < "/proc/$child/cmdline" 2>/dev/null | grep -qF -- "$dir"; }
while alive "$parent" && alive "$child"; do sleep 0.5; done
alive "$parent" && exit 0
if ours; then
    kill -TERM "$child" 2>/dev/null
    for _ in $(seq 1 50); do ours || break; sleep 0.1; done
    ours && kill -KILL "$child" 2>/dev/null
fi
rm -rf -- "$dir"
"#;

/// A child process whose output goes to a log file in its directory; killed
/// (with its watchdog) and the directory removed when dropped.
#[derive(Debug)]
struct Daemon {
    name: &'static str,
    child: Child,
    watchdog: Option<Child>,
    log: PathBuf,
    // Last: dropped (removed) after Drop::drop has killed the process.
    dir: tempfile::TempDir,
}

impl Daemon {
    fn spawn(
        name: &'static str,
        bin: &Path,
        args: &[String],
        dir: tempfile::TempDir,
    ) -> Result<Daemon, String> {
        let log = dir.path().join(format!("{name}.log"));
        let file =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let file2 = file
            .try_clone()
            .map_err(|e| format!("cannot duplicate {}: {e}", log.display()))?;
        let child = Command::new(bin)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(file2))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        // Without a watchdog the process would outlive a killed test run; that
        // is not worth failing the test for.
        let watchdog = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(format!("{name}-watchdog"))
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Ok(Daemon {
            name,
            child,
            watchdog,
            log,
            dir,
        })
    }

    /// The whole log (stdout and stderr of the process).
    fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "---- last lines of {} ----\n{}",
            self.log.display(),
            lines[from..].join("\n")
        )
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until `GET <url>` answers 200; fails early if the process
    /// exits.
    fn wait_ready(
        &mut self,
        agent: &ureq::Agent,
        url: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited during startup ({status})\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            let last = match get(agent, url, &[]) {
                Ok((200, _)) => return Ok(()),
                Ok((status, body)) => format!("HTTP {status}: {}", body.trim()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not answer 200 on {url} within {timeout:?} (last: {last})\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn port_taken(&self) -> bool {
        self.log().contains("address already in use")
    }

    /// Spawns the daemon and waits until `http://127.0.0.1:<port>/-/ready`
    /// answers 200. The error says whether another port is worth a try
    /// (this one was taken meanwhile).
    fn start_ready(
        name: &'static str,
        bin: &Path,
        args: &[String],
        dir: tempfile::TempDir,
        port: u16,
        timeout: Duration,
    ) -> Result<(Daemon, ureq::Agent), (String, bool)> {
        let mut daemon = Daemon::spawn(name, bin, args, dir).map_err(|e| (e, false))?;
        let agent = agent();
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        match daemon.wait_ready(&agent, &ready, timeout) {
            Ok(()) => Ok((daemon, agent)),
            Err(e) => {
                let retry = daemon.port_taken();
                Err((e, retry))
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `dir` is removed next, as the field is dropped.
    }
}

// ---- Prometheus -------------------------------------------------------------------------------

/// One scrape job with a single static target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    /// The job name (the `job` label).
    pub job: String,
    /// `127.0.0.1:<port>`.
    pub address: String,
    /// The metrics path, e.g. `/metrics`.
    pub metrics_path: String,
}

/// How to start a [`Prometheus`]. [`Default`] gives 1 s scrape and
/// evaluation intervals, no targets, no rules, no Alertmanager, a free port.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// The port to listen on (127.0.0.1); `None`: a free one. Set it (from
    /// [`free_port`]) when the configuration must name it, e.g. for
    /// Prometheus to scrape itself.
    pub port: Option<u16>,
    /// The scrape jobs.
    pub scrape_targets: Vec<ScrapeTarget>,
    /// `global.scrape_interval` (and `scrape_timeout`); default 1 s.
    pub scrape_interval: Duration,
    /// `global.evaluation_interval`; default 1 s.
    pub evaluation_interval: Duration,
    /// Rule files, copied into the Prometheus directory at start.
    pub rule_files: Vec<PathBuf>,
    /// Rule files given as YAML text, written into the Prometheus directory.
    pub rules: Vec<String>,
    /// An Alertmanager (`127.0.0.1:<port>`, see [`Alertmanager::address`])
    /// to send alerts to.
    pub alertmanager: Option<String>,
    /// `--enable-feature=exemplar-storage`.
    pub exemplar_storage: bool,
    /// More command-line arguments.
    pub extra_args: Vec<String>,
    /// How long to wait for `/-/ready`; default 30 s.
    pub start_timeout: Duration,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            port: None,
            scrape_targets: Vec::new(),
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            rule_files: Vec::new(),
            rules: Vec::new(),
            alertmanager: None,
            exemplar_storage: false,
            extra_args: Vec::new(),
            start_timeout: Duration::from_secs(30),
        }
    }
}

impl PrometheusConfig {
    /// Listens on `port` (see the field `port`).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds a scrape job: `address` is `127.0.0.1:<port>`, `metrics_path`
    /// e.g. `/metrics`.
    pub fn scrape(mut self, job: &str, address: &str, metrics_path: &str) -> Self {
        self.scrape_targets.push(ScrapeTarget {
            job: job.into(),
            address: address.into(),
            metrics_path: metrics_path.into(),
        });
        self
    }

    /// Sets the scrape interval.
    pub fn scrape_interval(mut self, interval: Duration) -> Self {
        self.scrape_interval = interval;
        self
    }

    /// Sets the rule evaluation interval.
    pub fn evaluation_interval(mut self, interval: Duration) -> Self {
        self.evaluation_interval = interval;
        self
    }

    /// Adds a rule file (copied at start).
    pub fn rule_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.rule_files.push(path.into());
        self
    }

    /// Adds a rule file given as YAML text (`groups: ...`).
    pub fn rules_yaml(mut self, yaml: &str) -> Self {
        self.rules.push(yaml.into());
        self
    }

    /// Sends alerts to this Alertmanager (`127.0.0.1:<port>`).
    pub fn alertmanager(mut self, address: &str) -> Self {
        self.alertmanager = Some(address.into());
        self
    }

    /// Turns exemplar storage on or off.
    pub fn exemplar_storage(mut self, on: bool) -> Self {
        self.exemplar_storage = on;
        self
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// The configuration file (JSON, which YAML parsers read as YAML).
    fn file(&self, rule_files: &[String]) -> Result<Value, String> {
        let interval = prom_duration("scrape_interval", self.scrape_interval)?;
        let mut config = json!({
            "global": {
                "scrape_interval": interval,
                // The default (10 s) must not exceed the interval.
                "scrape_timeout": interval,
                "evaluation_interval": prom_duration("evaluation_interval", self.evaluation_interval)?,
            },
            "rule_files": rule_files,
            "scrape_configs": self.scrape_targets.iter().map(|t| json!({
                "job_name": t.job,
                "metrics_path": t.metrics_path,
                "static_configs": [{ "targets": [t.address] }],
            })).collect::<Vec<_>>(),
        });
        if let Some(am) = &self.alertmanager {
            config["alerting"] = json!({
                "alertmanagers": [{ "static_configs": [{ "targets": [am] }] }],
            });
        }
        Ok(config)
    }
}

/// A running Prometheus on 127.0.0.1; killed and its directory removed
/// when dropped.
#[derive(Debug)]
pub struct Prometheus {
    port: u16,
    agent: ureq::Agent,
    daemon: Daemon,
}

impl Prometheus {
    /// Installs Prometheus if needed, writes the configuration and the rule
    /// files into a fresh directory, starts it and waits until `/-/ready`
    /// answers 200. On a free port (not one given in the configuration) a
    /// port taken meanwhile is retried on another.
    pub fn start(config: PrometheusConfig) -> Result<Prometheus, String> {
        let bins = install()?;
        let attempts = if config.port.is_some() { 1 } else { 5 };
        let mut last = String::new();
        for _attempt in 0..attempts {
            let port = config.port.unwrap_or_else(free_port);
            let dir = scratch_dir("prometheus-")?;
            let mut rule_files = Vec::new();
            if !config.rule_files.is_empty() || !config.rules.is_empty() {
                let rules_dir = dir.path().join("rules");
                std::fs::create_dir(&rules_dir)
                    .map_err(|e| format!("cannot create {}: {e}", rules_dir.display()))?;
                for (i, src) in config.rule_files.iter().enumerate() {
                    let name = src.file_name().map(|n| n.to_string_lossy().into_owned());
                    let dst = rules_dir.join(format!("{i:02}-{}", name.unwrap_or_default()));
                    std::fs::copy(src, &dst).map_err(|e| {
                        format!(
                            "cannot copy rule file {} to {}: {e}",
                            src.display(),
                            dst.display()
                        )
                    })?;
                    rule_files.push(dst.to_string_lossy().into_owned());
                }
                for (i, yaml) in config.rules.iter().enumerate() {
                    let dst = rules_dir.join(format!("inline-{i:02}.yml"));
                    std::fs::write(&dst, yaml)
                        .map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
                    rule_files.push(dst.to_string_lossy().into_owned());
                }
            }
            let file = dir.path().join("prometheus.yml");
            let text = serde_json::to_string_pretty(&config.file(&rule_files)?)
                .map_err(|e| e.to_string())?;
            std::fs::write(&file, text)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            let mut args = vec![
                format!("--config.file={}", file.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                // The defaults point at /etc/prometheus (Debian); unused here.
                format!(
                    "--web.console.templates={}",
                    dir.path().join("consoles").display()
                ),
                format!(
                    "--web.console.libraries={}",
                    dir.path().join("console_libraries").display()
                ),
            ];
            if config.alertmanager.is_some() {
                // Alerts evaluated before the notifier knows the Alertmanager
                // (its discovery updates after ~5 s) are dropped and sent again
                // only after this delay (default 1 m).
                args.push(format!(
                    "--rules.alert.resend-delay={}",
                    prom_duration("evaluation_interval", config.evaluation_interval)?
                ));
            }
            if config.exemplar_storage {
                args.push("--enable-feature=exemplar-storage".into());
            }
            args.extend(config.extra_args.iter().cloned());
            match Daemon::start_ready(
                "prometheus",
                &bins.prometheus,
                &args,
                dir,
                port,
                config.start_timeout,
            ) {
                Ok((daemon, agent)) => {
                    return Ok(Prometheus {
                        port,
                        agent,
                        daemon,
                    });
                }
                Err((e, retry)) => {
                    last = e;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its directory (configuration, rules, `prometheus.log`, TSDB in `data/`).
    pub fn dir(&self) -> &Path {
        self.daemon.dir.path()
    }

    /// Its log so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// GETs `/api/v1/<path>` and returns the response's `data`; an error
    /// when the answer is not `"status": "success"` (with Prometheus's
    /// `errorType` and `error`).
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let url = format!("{}/api/v1/{}", self.url(), path.trim_start_matches('/'));
        let mut body = get_json(&self.agent, &url, params)?;
        if body["status"] != "success" {
            return Err(format!(
                "GET {url} {params:?}: {} {}: {}",
                body["status"], body["errorType"], body["error"]
            ));
        }
        Ok(body["data"].take())
    }

    /// An instant query (now): the `data.result` array (a vector's
    /// samples, or a scalar/string `[time, value]` pair).
    pub fn query(&self, promql: &str) -> Result<Value, String> {
        let mut data = self.api("query", &[("query", promql)])?;
        Ok(data["result"].take())
    }

    /// A range query: the `data.result` array (matrix).
    pub fn query_range(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Value, String> {
        let step = format!("{}", step.as_secs_f64());
        let mut data = self.api(
            "query_range",
            &[
                ("query", promql),
                ("start", &unix_seconds(start)),
                ("end", &unix_seconds(end)),
                ("step", &step),
            ],
        )?;
        Ok(data["result"].take())
    }

    /// `/api/v1/query_exemplars`: the `data` array (one entry per series,
    /// with `seriesLabels` and `exemplars`). Needs
    /// [`PrometheusConfig::exemplar_storage`](method@PrometheusConfig::exemplar_storage).
    pub fn query_exemplars(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Value, String> {
        self.api(
            "query_exemplars",
            &[
                ("query", promql),
                ("start", &unix_seconds(start)),
                ("end", &unix_seconds(end)),
            ],
        )
    }

    /// `/api/v1/alerts`: the `data.alerts` array (each with `labels`,
    /// `annotations`, `state` `pending`/`firing`, `activeAt`, `value`).
    pub fn alerts(&self) -> Result<Value, String> {
        let mut data = self.api("alerts", &[])?;
        Ok(data["alerts"].take())
    }

    /// `/api/v1/targets`: `data` (`activeTargets`, `droppedTargets`).
    pub fn targets(&self) -> Result<Value, String> {
        self.api("targets", &[])
    }

    /// `/api/v1/rules`: `data.groups`.
    pub fn rules(&self) -> Result<Value, String> {
        let mut data = self.api("rules", &[])?;
        Ok(data["groups"].take())
    }

    /// Polls `check` (see [`wait_for`](fn@wait_for)); on timeout the error also holds
    /// the end of Prometheus's log.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Prometheus) -> Result<Option<T>, String>,
    ) -> Result<T, String> {
        wait_for(what, timeout, || check(self))
            .map_err(|e| format!("{e}\n{}", self.daemon.log_tail()))
    }

    /// Waits until the instant query `promql` gives a non-empty result and
    /// returns it.
    pub fn wait_query_nonempty(&self, promql: &str, timeout: Duration) -> Result<Value, String> {
        self.wait_for(&format!("a result for {promql}"), timeout, |p| {
            let result = p.query(promql)?;
            Ok(match result.as_array() {
                Some(a) if !a.is_empty() => Some(result),
                _ => None,
            })
        })
    }

    /// Waits until every active target is up (and there is at least one);
    /// returns the active targets.
    pub fn wait_targets_up(&self, timeout: Duration) -> Result<Value, String> {
        self.wait_for("all targets up", timeout, |p| {
            let mut targets = p.targets()?;
            let active = targets["activeTargets"].take();
            let all_up = active
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(|t| t["health"] == "up"));
            if all_up {
                Ok(Some(active))
            } else {
                Err(format!("active targets: {active}"))
            }
        })
    }

    /// Waits until the alert `alertname` is firing and returns it (from
    /// [`alerts`](Self::alerts)).
    pub fn wait_alert_firing(&self, alertname: &str, timeout: Duration) -> Result<Value, String> {
        self.wait_for(&format!("alert {alertname} firing"), timeout, |p| {
            let alerts = p.alerts()?;
            Ok(alerts.as_array().and_then(|a| {
                a.iter()
                    .find(|al| al["labels"]["alertname"] == alertname && al["state"] == "firing")
                    .cloned()
            }))
        })
    }
}

// ---- Alertmanager -----------------------------------------------------------------------------

/// A running Alertmanager on 127.0.0.1 (clustering off) whose only
/// receiver is a webhook; killed and its directory removed when dropped.
#[derive(Debug)]
pub struct Alertmanager {
    port: u16,
    agent: ureq::Agent,
    daemon: Daemon,
}

impl Alertmanager {
    /// Installs Alertmanager if needed and starts it with one route: every
    /// alert, grouped by `alertname`, to a webhook at `webhook_url`
    /// (`send_resolved`), `group_wait` and `group_interval` 1 s,
    /// `repeat_interval` 1 h. Waits until `/-/ready` answers 200.
    pub fn start(webhook_url: &str) -> Result<Alertmanager, String> {
        let bins = install()?;
        let config = json!({
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{
                "name": "webhook",
                "webhook_configs": [{ "url": webhook_url, "send_resolved": true }],
            }],
        });
        let text = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let dir = scratch_dir("alertmanager-")?;
            let file = dir.path().join("alertmanager.yml");
            std::fs::write(&file, &text)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            let args = vec![
                format!("--config.file={}", file.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Empty: no cluster (else it binds 0.0.0.0:9094).
                "--cluster.listen-address=".to_owned(),
                format!("--storage.path={}", dir.path().join("data").display()),
            ];
            match Daemon::start_ready(
                "alertmanager",
                &bins.alertmanager,
                &args,
                dir,
                port,
                Duration::from_secs(30),
            ) {
                Ok((daemon, agent)) => {
                    return Ok(Alertmanager {
                        port,
                        agent,
                        daemon,
                    });
                }
                Err((e, retry)) => {
                    last = e;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, for [`PrometheusConfig::alertmanager`](method@PrometheusConfig::alertmanager).
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its directory (`alertmanager.yml`, `alertmanager.log`, `data/`).
    pub fn dir(&self) -> &Path {
        self.daemon.dir.path()
    }

    /// Its log so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// `/api/v2/alerts`: the alerts it holds (an array; each with `labels`,
    /// `annotations`, `status.state`, `receivers`, ...).
    pub fn alerts(&self) -> Result<Value, String> {
        let url = format!("{}/api/v2/alerts", self.url());
        let (status, body) = get(&self.agent, &url, &[])?;
        if status != 200 {
            return Err(format!("GET {url}: HTTP {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON ({e}): {body}"))
    }
}

// ---- webhook receiver -------------------------------------------------------------------------

/// A tiny HTTP server on 127.0.0.1 that answers 200 to every request (one
/// request per connection) and keeps the body of every POST (parsed as JSON; a body that is not JSON
/// is kept as a JSON string). Stops when dropped.
#[derive(Debug)]
pub struct WebhookReceiver {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WebhookReceiver {
    /// Starts it on a free port.
    pub fn start() -> Result<WebhookReceiver, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let bodies = Arc::clone(&bodies);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("webhook-receiver".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                let bodies = Arc::clone(&bodies);
                                // One thread per connection: a slow client
                                // blocks nobody else.
                                let _ = std::thread::Builder::new()
                                    .name("webhook-connection".into())
                                    .spawn(move || serve_connection(stream, &bodies));
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(20)),
                        }
                    }
                })
                .map_err(|e| format!("cannot start the webhook thread: {e}"))?
        };
        Ok(WebhookReceiver {
            addr,
            bodies,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>/webhook` (any path is accepted).
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    /// The bodies received so far, oldest first.
    pub fn bodies(&self) -> Vec<Value> {
        match self.bodies.lock() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Waits until a notification holds a firing alert named `alertname`
    /// and returns that alert (`status`, `labels`, `annotations`,
    /// `startsAt`, `fingerprint`, ...; the whole notification is in
    /// [`bodies`](Self::bodies)).
    pub fn wait_for_alert(&self, alertname: &str, timeout: Duration) -> Result<Value, String> {
        wait_for(
            &format!("a notification of alert {alertname}"),
            timeout,
            || {
                Ok(self.bodies().iter().find_map(|b| {
                    b["alerts"]
                        .as_array()?
                        .iter()
                        .find(|a| a["labels"]["alertname"] == alertname && a["status"] == "firing")
                        .cloned()
                }))
            },
        )
        .map_err(|e| format!("{e}; received: {:?}", self.bodies()))
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves one request and closes the connection (the response says so,
/// so a keep-alive client opens a new one for the next request).
fn serve_connection(stream: TcpStream, bodies: &Mutex<Vec<Value>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let Ok(Some((method, body))) = read_request(&mut reader) else {
        return;
    };
    if method == "POST" {
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        match bodies.lock() {
            Ok(mut b) => b.push(value),
            Err(poisoned) => poisoned.into_inner().push(value),
        }
    }
    let response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    let _ = writer.write_all(response.as_bytes());
    let _ = writer.flush();
}

/// Reads one request: its method and body (`Content-Length` or chunked).
/// `Ok(None)` when the client closed the connection.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let method = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    let mut header_bytes = 0usize;
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        header_bytes += n;
        if n == 0 || header_bytes > 64 * 1024 {
            return Err(bad("truncated or oversized headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().map_err(|_| bad("bad Content-Length"))?;
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            line.clear();
            reader.read_line(&mut line)?; // the CRLF after the chunk
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some((method, body)))
}

// ---- promtool ---------------------------------------------------------------------------------

/// Runs `promtool <args>`, with `stdin` on its standard input if given.
/// `Ok` with its output (stdout then stderr) when it exits 0, else `Err`
/// with the exit status and the full output.
pub fn promtool(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let bins = install()?;
    let mut child = Command::new(&bins.promtool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bins.promtool.display()))?;
    // Written from another thread, so that a large input cannot deadlock
    // against a full output pipe.
    let writer = match (stdin, child.stdin.take()) {
        (Some(text), Some(mut pipe)) => {
            let text = text.to_owned();
            Some(std::thread::spawn(move || pipe.write_all(text.as_bytes())))
        }
        _ => None,
    };
    let out = child
        .wait_with_output()
        .map_err(|e| format!("promtool {}: {e}", args.join(" ")))?;
    if let Some(w) = writer {
        // promtool may exit without reading everything (a parse error):
        // a broken pipe then is no error of ours.
        let _ = w.join();
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = write!(text, "{}", String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "promtool {} failed ({}):\n{text}",
            args.join(" "),
            out.status
        ))
    }
}

/// `promtool check metrics` on an exposition (text format, read from
/// stdin). It parses and lints: exit 1 for a parse error, 3 for lint
/// problems (a counter without `_total`, a metric without HELP, ...); both
/// are an `Err` with promtool's messages.
pub fn promtool_check_metrics(exposition: &str) -> Result<String, String> {
    promtool(&["check", "metrics"], Some(exposition))
}

/// `promtool check rules <path>`.
pub fn promtool_check_rules(path: impl AsRef<Path>) -> Result<String, String> {
    let path = path.as_ref().to_string_lossy().into_owned();
    promtool(&["check", "rules", &path], None)
}

/// `promtool test rules <path>` (a unit-test file; its `rule_files` are
/// relative to its own directory).
pub fn promtool_test_rules(path: impl AsRef<Path>) -> Result<String, String> {
    let path = path.as_ref().to_string_lossy().into_owned();
    promtool(&["test", "rules", &path], None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_content_length_request_and_a_chunked_one() {
        let raw = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":1}\
GET / HTTP/1.1\r\n\r\n\
POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"b\r\n4\r\n\":2}\r\n0\r\n\r\n";
        let mut reader = BufReader::new(&raw[..]);
        let (m, b) = read_request(&mut reader).unwrap().unwrap();
        assert_eq!((m.as_str(), b.as_slice()), ("POST", &b"{\"a\":1}"[..]));
        let (m, b) = read_request(&mut reader).unwrap().unwrap();
        assert_eq!((m.as_str(), b.len()), ("GET", 0));
        let (m, b) = read_request(&mut reader).unwrap().unwrap();
        assert_eq!((m.as_str(), b.as_slice()), ("POST", &b"{\"b\":2}"[..]));
        assert!(read_request(&mut reader).unwrap().is_none());
    }

    #[test]
    fn webhook_keeps_posted_json() {
        let hook = WebhookReceiver::start().unwrap();
        let body = br#"{"alerts":[{"status":"firing","labels":{"alertname":"X"}}]}"#;
        let status =
            crate::http_post(hook.addr.port(), "/webhook", "application/json", body).unwrap();
        assert_eq!(status, 200);
        let alert = hook.wait_for_alert("X", Duration::from_secs(5)).unwrap();
        assert_eq!(alert["status"], "firing");
        assert_eq!(hook.bodies().len(), 1);
    }

    #[test]
    fn config_file_has_targets_rules_and_alerting() {
        let c = PrometheusConfig::default()
            .scrape("app", "127.0.0.1:1234", "/m")
            .alertmanager("127.0.0.1:5678")
            .scrape_interval(Duration::from_millis(1500));
        let f = c.file(&["/r.yml".into()]).unwrap();
        assert_eq!(f["global"]["scrape_interval"], "1500ms");
        assert_eq!(f["global"]["evaluation_interval"], "1000ms");
        assert_eq!(
            f["scrape_configs"][0]["static_configs"][0]["targets"][0],
            "127.0.0.1:1234"
        );
        assert_eq!(f["scrape_configs"][0]["metrics_path"], "/m");
        assert_eq!(f["rule_files"][0], "/r.yml");
        assert_eq!(
            f["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
            "127.0.0.1:5678"
        );
        assert!(
            PrometheusConfig::default()
                .scrape_interval(Duration::ZERO)
                .file(&[])
                .is_err()
        );
    }
}
