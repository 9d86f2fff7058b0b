//! A real headless Chromium for a test, driven over W3C WebDriver: Debian's
//! `chromium` and `chromium-driver` (installed if missing by
//! `tests/browser/install.sh`, with axe-core from the npm registry), a
//! `chromedriver` started on a free port of 127.0.0.1 and one session with
//! a fresh profile in a temporary directory. Dropping the [`Browser`]
//! deletes the session, kills chromedriver and every Chromium process of
//! that profile, and removes the directory; a watchdog does the same if the
//! test process dies first.
//!
//! The client is plain HTTP + JSON (`ureq`, `serde_json`): every call has a
//! timeout, every wait is bounded, every error is a `String` that names
//! the WebDriver command.
//!
//! ```no_run
//! use std::time::Duration;
//! use telemetry_tests::browser::{Browser, keys};
//!
//! let browser = Browser::start()?;
//! browser.goto("http://127.0.0.1:8080/")?;
//! assert_eq!(browser.title()?, "Home");
//! browser.find("#accept")?.click()?;
//! let banner = browser.wait_for("#done", Duration::from_secs(5))?;
//! assert_eq!(banner.text()?, "Thanks");
//! browser.press_key(keys::TAB)?;
//! let focused = browser.active_element()?.attribute("id")?;
//! browser.add_cookie("consent", "granted")?; // a page of that origin is loaded
//! browser.screenshot_png("page.png")?;
//! let violations = browser.axe()?;
//! assert!(violations.is_empty(), "{violations:#?}");
//! # let _ = focused;
//! # Ok::<(), String>(())
//! ```

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::free_port;

/// The key under which WebDriver identifies an element in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The arguments Chromium is started with (besides `--user-data-dir`).
/// `--no-sandbox`: the tests run as root (and in containers without user
/// namespaces); `--disable-dev-shm-usage`: `/dev/shm` may be small.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,800",
];

/// WebDriver's codes of special keys, for [`Browser::press_key`] and
/// [`Element::send_keys`].
pub mod keys {
    /// Backspace.
    pub const BACKSPACE: &str = "\u{E003}";
    /// Tab.
    pub const TAB: &str = "\u{E004}";
    /// Return (the main keyboard's Enter).
    pub const RETURN: &str = "\u{E006}";
    /// Enter (the numeric keypad's).
    pub const ENTER: &str = "\u{E007}";
    /// Shift (hold it in a [`send_keys`](super::Element::send_keys) string: `"\u{E008}\u{E004}"` is Shift+Tab).
    pub const SHIFT: &str = "\u{E008}";
    /// Escape.
    pub const ESCAPE: &str = "\u{E00C}";
    /// Space.
    pub const SPACE: &str = "\u{E00D}";
    /// End.
    pub const END: &str = "\u{E010}";
    /// Home.
    pub const HOME: &str = "\u{E011}";
    /// Arrow left.
    pub const ARROW_LEFT: &str = "\u{E012}";
    /// Arrow up.
    pub const ARROW_UP: &str = "\u{E013}";
    /// Arrow right.
    pub const ARROW_RIGHT: &str = "\u{E014}";
    /// Arrow down.
    pub const ARROW_DOWN: &str = "\u{E015}";
}

/// The repository's `tests/browser` directory.
pub fn browser_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Where the programs are (from `install.sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// Chromium (Debian: `/usr/bin/chromium`).
    pub chromium: PathBuf,
    /// chromedriver (Debian: `/usr/bin/chromedriver`).
    pub chromedriver: PathBuf,
    /// axe-core's `axe.min.js` (`tests/browser/node_modules/axe-core/axe.min.js`).
    pub axe: PathBuf,
}

/// Runs `tests/browser/install.sh` (once per process; later calls give the
/// first answer) and returns the paths it printed.
pub fn install() -> Result<Binaries, String> {
    static INSTALLED: OnceLock<Result<Binaries, String>> = OnceLock::new();
    INSTALLED.get_or_init(run_install).clone()
}

fn run_install() -> Result<Binaries, String> {
    let paths = crate::run_install_script(
        &browser_scripts().join("install.sh"),
        "tests/browser/install.sh",
        &["CHROMIUM", "CHROMEDRIVER", "AXE"],
    )?;
    let mut paths = paths.into_iter();
    let mut next = || {
        paths
            .next()
            .ok_or_else(|| "install.sh printed too few paths".to_owned())
    };
    Ok(Binaries {
        chromium: next()?,
        chromedriver: next()?,
        axe: next()?,
    })
}

// ---- HTTP ---------------------------------------------------------------------------------------

/// Longer than the session's page-load and script timeouts (30 s), so that
/// those give WebDriver's own error first.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// The session's `pageLoad` and `script` timeouts.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        // WebDriver errors come as 4xx/5xx with a JSON body: read it.
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        // Never through an HTTP(S)_PROXY from the environment: 127.0.0.1 only.
        .proxy(None)
        .build()
        .into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// One WebDriver call; gives the response's `value`, or an `Err` naming
/// `what` with WebDriver's error and message.
fn call(
    agent: &ureq::Agent,
    method: Method,
    url: &str,
    body: Option<&Value>,
    what: &str,
) -> Result<Value, String> {
    let what = format!("{} {what}", method.name());
    let result = match method {
        Method::Get => agent.get(url).call(),
        Method::Delete => agent.delete(url).call(),
        Method::Post => agent
            .post(url)
            .content_type("application/json; charset=utf-8")
            .send(body.map_or_else(|| "{}".to_owned(), Value::to_string)),
    };
    let mut resp = result.map_err(|e| format!("WebDriver {what}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        // A screenshot or a page's source can be large.
        .limit(256 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("WebDriver {what}: reading the response: {e}"))?;
    let parsed: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "WebDriver {what}: HTTP {status}, not JSON ({e}): {}",
            clip(&text, 500)
        )
    })?;
    let value = parsed.get("value").cloned().unwrap_or(Value::Null);
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        let message = value.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!(
            "WebDriver {what}: {error}: {}",
            clip(message.trim(), 2000)
        ));
    }
    if status != 200 {
        return Err(format!(
            "WebDriver {what}: HTTP {status}: {}",
            clip(&text, 500)
        ));
    }
    Ok(value)
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

// ---- chromedriver, its processes and its directory ---------------------------------------------

/// Once the test process `$1` is gone: kills the process group of
/// chromedriver `$2` (if its command line still names the directory `$3`,
/// against pid reuse) and every process whose command line names `$3`
/// (Chromium's, through `--user-data-dir`), then removes `$3`. Ignores the
/// signals a terminal sends to the whole process group.
const WATCHDOG: &str = r#"
trap '' HUP INT QUIT
parent="$1" driver="$2" dir="$3"
alive() {
    local s
    s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    s="${s##*) }"
    [ "${s%% *}" != Z ]
}
names_dir() {
    local c
    c="$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null)" || return 1
    [[ "$c" == *"$dir"* ]]
}
while alive "$parent" && alive "$driver"; do sleep 0.5; done
alive "$parent" && exit 0
names_dir "$driver" && kill -KILL -- "-$driver" 2>/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do
    found=
    for d in /proc/[0-9]*; do
        p="${d#/proc/}"
        [ "$p" = "$$" ] && continue
        if alive "$p" && names_dir "$p"; then kill -KILL "$p" 2>/dev/null; found=1; fi
    done
    [ -n "$found" ] || break
    sleep 0.2
done
rm -rf -- "$dir"
"#;

/// The live processes (not zombies) whose command line contains `needle`,
/// but not this one.
fn pids_naming(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(") ")?.1.to_owned();
                    Some(rest.starts_with('Z'))
                })
                .unwrap_or(true);
            !zombie
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(needle))
                    .unwrap_or(false)
        })
        .collect()
}

/// SIGKILL to `targets` (pids, or `-pgid` for a process group), with
/// bash's `kill` (no libc here).
fn kill_all(targets: &[String]) {
    if targets.is_empty() {
        return;
    }
    let _ = Command::new("bash")
        .arg("-c")
        .arg(r#"kill -KILL -- "$@" 2>/dev/null; exit 0"#)
        .arg("kill")
        .args(targets)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// chromedriver in its own process group, logging to a file in its
/// directory, which also holds Chromium's profile. Dropping it kills all of
/// them and removes the directory.
#[derive(Debug)]
struct Driver {
    child: Child,
    watchdog: Option<Child>,
    port: u16,
    log: PathBuf,
    profile: PathBuf,
    // Last: dropped (removed) after Drop::drop has killed the processes.
    dir: tempfile::TempDir,
}

impl Driver {
    fn spawn(bin: &Path, port: u16) -> Result<Driver, String> {
        // In the system's temporary directory: Chromium keeps a unix socket
        // under the profile, and those paths must stay short.
        let dir = tempfile::Builder::new()
            .prefix("telemetry-chromium-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let log = dir.path().join("chromedriver.log");
        let profile = dir.path().join("profile");
        // Chromium's HOME: its NSS database (~/.pki), crash reports
        // (~/.config/chromium) and caches stay in the directory too.
        let home = dir.path().join("home");
        for d in [&profile, &home] {
            std::fs::create_dir(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        let file =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let file2 = file
            .try_clone()
            .map_err(|e| format!("cannot duplicate {}: {e}", log.display()))?;
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            // Also names the directory, so that the watchdog recognises it.
            .arg(format!("--log-path={}", log.display()))
            // Chromium's own stderr into the same log.
            .arg("--enable-chrome-logs")
            .current_dir(dir.path())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(file2))
            // Its own process group (Chromium's processes join it): Drop kills
            // the group, and Ctrl-C in a terminal leaves the cleanup to Drop
            // or the watchdog.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        // Without a watchdog the browser would outlive a killed test run; that
        // is not worth failing the test for.
        let watchdog = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("browser-watchdog")
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        Ok(Driver {
            child,
            watchdog,
            port,
            log,
            profile,
            dir,
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

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

    /// Waits until `/status` says ready. The error says whether another
    /// port is worth a try (this one was taken meanwhile).
    fn wait_ready(&mut self, agent: &ureq::Agent, timeout: Duration) -> Result<(), (String, bool)> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/status", self.url());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                let taken =
                    log.contains("Address already in use") || log.contains("Port not available");
                return Err((
                    format!(
                        "chromedriver exited during startup ({status})\n{}",
                        self.log_tail()
                    ),
                    taken,
                ));
            }
            let last = match call(agent, Method::Get, &url, None, "/status") {
                Ok(v) if v["ready"] == true => return Ok(()),
                Ok(v) => format!("not ready: {v}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err((
                    format!(
                        "chromedriver did not get ready on {url} within {timeout:?} (last: {last})\n{}",
                        self.log_tail()
                    ),
                    false,
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        // The group while chromedriver is not yet reaped (its pid, the group's
        // id, cannot be reused before), then whatever names the directory and
        // left the group.
        kill_all(&[format!("-{}", self.child.id())]);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let needle = self.dir.path().to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left: Vec<String> = pids_naming(&needle).iter().map(u32::to_string).collect();
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            kill_all(&left);
            std::thread::sleep(Duration::from_millis(50));
        }
        // `dir` is removed next, as the field is dropped.
    }
}

// ---- the browser ------------------------------------------------------------------------------

/// One violation that axe-core found (`axe.run(...).violations[i]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxeViolation {
    /// The rule, e.g. `image-alt`, `color-contrast`, `label`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule checks.
    pub description: String,
    /// How to fix it, in short.
    pub help: String,
    /// How many elements violate it.
    pub nodes: usize,
    /// A CSS selector of each of those elements.
    pub targets: Vec<String>,
}

/// A headless Chromium with one WebDriver session; everything is stopped
/// and removed when dropped.
#[derive(Debug)]
pub struct Browser {
    agent: ureq::Agent,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session_url: String,
    session_id: String,
    axe_path: PathBuf,
    axe_source: OnceLock<String>,
    // Last: dropped after Browser::drop has deleted the session.
    driver: Driver,
}

impl Browser {
    /// Installs (if needed) Chromium, chromedriver and axe-core, starts
    /// chromedriver on a free port of 127.0.0.1 and opens a session: a
    /// headless Chromium ([`CHROMIUM_ARGS`]) with a fresh profile, page
    /// loads and scripts limited to 30 s.
    pub fn start() -> Result<Browser, String> {
        let bins = install()?;
        let mut last = String::new();
        for _attempt in 0..5 {
            let mut driver = Driver::spawn(&bins.chromedriver, free_port())?;
            let agent = agent(HTTP_TIMEOUT);
            if let Err((e, retry)) = driver.wait_ready(&agent, Duration::from_secs(20)) {
                last = e;
                if retry {
                    continue;
                }
                break;
            }
            return Self::open_session(agent, driver, &bins);
        }
        Err(last)
    }

    fn open_session(
        agent: ureq::Agent,
        driver: Driver,
        bins: &Binaries,
    ) -> Result<Browser, String> {
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", driver.profile.display()));
        let ms = PAGE_TIMEOUT.as_millis() as u64;
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": {"implicit": 0, "pageLoad": ms, "script": ms},
                    "goog:chromeOptions": {
                        "binary": bins.chromium.to_string_lossy(),
                        "args": args,
                    },
                }
            }
        });
        let url = format!("{}/session", driver.url());
        let value = call(&agent, Method::Post, &url, Some(&capabilities), "/session")
            .map_err(|e| format!("{e}\n{}", driver.log_tail()))?;
        let session_id = value["sessionId"]
            .as_str()
            .ok_or_else(|| format!("new session: no sessionId in {value}"))?
            .to_owned();
        Ok(Browser {
            agent,
            session_url: format!("{url}/{session_id}"),
            session_id,
            axe_path: bins.axe.clone(),
            axe_source: OnceLock::new(),
            driver,
        })
    }

    fn cmd(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.session_url);
        call(&self.agent, method, &url, body, path)
    }

    /// The WebDriver session's id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// chromedriver's base URL, `http://127.0.0.1:<port>`.
    pub fn driver_url(&self) -> String {
        self.driver.url()
    }

    /// Chromium's profile directory (`--user-data-dir`).
    pub fn profile_dir(&self) -> &Path {
        &self.driver.profile
    }

    /// chromedriver's log so far (with Chromium's stderr).
    pub fn driver_log(&self) -> String {
        self.driver.log()
    }

    /// Loads `url` and waits for the page to load (≤ 30 s).
    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.cmd(Method::Post, "/url", Some(&json!({ "url": url })))
            .map(drop)
    }

    /// The current page's URL.
    pub fn url(&self) -> Result<String, String> {
        string(self.cmd(Method::Get, "/url", None)?, "url")
    }

    /// The current page's title.
    pub fn title(&self) -> Result<String, String> {
        string(self.cmd(Method::Get, "/title", None)?, "title")
    }

    /// The current page's DOM, serialised.
    pub fn page_source(&self) -> Result<String, String> {
        string(self.cmd(Method::Get, "/source", None)?, "source")
    }

    /// The first element that matches the CSS selector; `Err` (`no such
    /// element`) if none does.
    pub fn find(&self, css: &str) -> Result<Element<'_>, String> {
        let v = self.cmd(
            Method::Post,
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        self.element(&v).map_err(|e| format!("find {css:?}: {e}"))
    }

    /// All elements that match the CSS selector (maybe none).
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>, String> {
        let v = self.cmd(
            Method::Post,
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        v.as_array()
            .ok_or_else(|| format!("find_all {css:?}: not an array: {v}"))?
            .iter()
            .map(|e| self.element(e))
            .collect()
    }

    /// Polls (every 50 ms) until an element matches the CSS selector and
    /// returns the first one; `Err` after `timeout`.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.find_all(css) {
                Ok(mut found) if !found.is_empty() => return Ok(found.swap_remove(0)),
                Ok(_) => "none yet".to_owned(),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                let url = self.url().unwrap_or_else(|e| e);
                return Err(format!(
                    "no element matched {css:?} within {timeout:?} on {url} (last: {last})"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The element that has the keyboard focus (`document.activeElement`,
    /// the `<body>` when nothing is focused).
    pub fn active_element(&self) -> Result<Element<'_>, String> {
        let v = self.cmd(Method::Get, "/element/active", None)?;
        self.element(&v)
    }

    /// Presses and releases `key` (a character or a [`keys`] code) on
    /// whatever has the focus, as a real keyboard would (WebDriver
    /// actions): Tab moves the focus, Enter activates a focused button.
    pub fn press_key(&self, key: &str) -> Result<(), String> {
        let actions = json!({"actions": [{
            "type": "key",
            "id": "keyboard",
            "actions": [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}],
        }]});
        self.cmd(Method::Post, "/actions", Some(&actions))?;
        self.cmd(Method::Delete, "/actions", None).map(drop)
    }

    /// Runs `script` as the body of a function in the page and gives what
    /// it returns (`return ...;`). `args` are its `arguments`; an
    /// [`Element::arg`] becomes the element.
    pub fn execute(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        self.cmd(
            Method::Post,
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// Like [`execute`](Self::execute), but the script finishes by calling
    /// its last argument (`arguments[arguments.length - 1]`) with the
    /// result; `Err` if it does not within 30 s.
    pub fn execute_async(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        self.cmd(
            Method::Post,
            "/execute/async",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// Sets a cookie (path `/`, host-only) for the current page's origin:
    /// WebDriver only sets cookies for the document that is loaded, so
    /// [`goto`](Self::goto) a page of that origin first (`about:blank`
    /// gives `invalid cookie domain`). The browser sends it with the next
    /// requests to that origin.
    pub fn add_cookie(&self, name: &str, value: &str) -> Result<(), String> {
        let cookie = json!({"cookie": {"name": name, "value": value, "path": "/"}});
        self.cmd(Method::Post, "/cookie", Some(&cookie)).map(drop)
    }

    /// The cookies visible to the current page, as (name, value).
    pub fn cookies(&self) -> Result<Vec<(String, String)>, String> {
        let v = self.cmd(Method::Get, "/cookie", None)?;
        v.as_array()
            .ok_or_else(|| format!("cookies: not an array: {v}"))?
            .iter()
            .map(|c| match (c["name"].as_str(), c["value"].as_str()) {
                (Some(name), Some(value)) => Ok((name.to_owned(), value.to_owned())),
                _ => Err(format!("cookies: a cookie without name or value: {c}")),
            })
            .collect()
    }

    /// A screenshot of the viewport, written to `path` as PNG; also gives
    /// its bytes. The window is 1280×800; the viewport, without the
    /// browser's bars, is 1280 wide and about 660 high.
    pub fn screenshot_png(&self, path: impl AsRef<Path>) -> Result<Vec<u8>, String> {
        let path = path.as_ref();
        let encoded = string(self.cmd(Method::Get, "/screenshot", None)?, "screenshot")?;
        let png = base64_decode(&encoded).map_err(|e| format!("screenshot: {e}"))?;
        std::fs::write(path, &png)
            .map_err(|e| format!("cannot write the screenshot to {}: {e}", path.display()))?;
        Ok(png)
    }

    /// Runs axe-core (all rules of its default set) on the current page and
    /// gives the violations (none: an empty list). Injects `axe.min.js`
    /// into the page first if it is not there yet.
    pub fn axe(&self) -> Result<Vec<AxeViolation>, String> {
        self.axe_with(&json!({}))
    }

    /// [`axe`](Self::axe) with options for `axe.run` (e.g.
    /// `{"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}}` or
    /// `{"rules": {"color-contrast": {"enabled": false}}}`).
    pub fn axe_with(&self, options: &Value) -> Result<Vec<AxeViolation>, String> {
        let loaded = self.execute("return window.axe ? window.axe.version : null;", &[])?;
        if loaded.is_null() {
            let source = self.axe_source()?;
            let script = format!("{source}\n;return window.axe ? window.axe.version : null;");
            let version = self
                .execute(&script, &[])
                .map_err(|e| format!("injecting {}: {e}", self.axe_path.display()))?;
            if version.is_null() {
                return Err(format!(
                    "{} ran, but window.axe is not defined",
                    self.axe_path.display()
                ));
            }
        }
        let result = self.execute_async(AXE_RUN, std::slice::from_ref(options))?;
        if let Some(e) = result.get("error") {
            return Err(format!("axe.run failed: {e}"));
        }
        let violations = result["violations"]
            .as_array()
            .ok_or_else(|| format!("axe.run: no violations array in {result}"))?;
        Ok(violations
            .iter()
            .map(|v| AxeViolation {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                impact: v["impact"].as_str().map(str::to_owned),
                description: v["description"].as_str().unwrap_or_default().to_owned(),
                help: v["help"].as_str().unwrap_or_default().to_owned(),
                nodes: v["targets"].as_array().map_or(0, Vec::len),
                targets: v["targets"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect())
    }

    fn axe_source(&self) -> Result<&str, String> {
        if let Some(s) = self.axe_source.get() {
            return Ok(s);
        }
        let source = std::fs::read_to_string(&self.axe_path)
            .map_err(|e| format!("cannot read {}: {e}", self.axe_path.display()))?;
        Ok(self.axe_source.get_or_init(|| source))
    }

    fn element(&self, v: &Value) -> Result<Element<'_>, String> {
        let id = v[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| format!("not an element: {v}"))?;
        Ok(Element {
            browser: self,
            id: id.to_owned(),
        })
    }
}

/// `axe.run` on the document; calls back with the violations, shortened
/// (the nodes' HTML and the checks' details are left out), or an error.
const AXE_RUN: &str = r#"
const options = arguments[0] || {};
const done = arguments[arguments.length - 1];
options.resultTypes = ['violations'];
window.axe.run(document, options).then(
    (r) => done({violations: r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        description: v.description,
        help: v.help,
        targets: v.nodes.map((n) => n.target.map(String).join(' ')),
    }))}),
    (e) => done({error: String(e && e.stack || e)}),
);
"#;

impl Drop for Browser {
    fn drop(&mut self) {
        // Lets chromedriver close Chromium; the Driver field, dropped next,
        // kills whatever is left.
        let quick = agent(Duration::from_secs(10));
        let _ = call(&quick, Method::Delete, &self.session_url, None, "/session");
    }
}

fn string(v: Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(format!(
            "{what}: not a string: {}",
            clip(&other.to_string(), 500)
        )),
    }
}

/// An element of the page (WebDriver's element reference). Stale once the
/// page changes: find it again then.
#[derive(Debug, Clone)]
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Element<'_> {
    /// WebDriver's id of the element.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The element as an argument of [`Browser::execute`].
    pub fn arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    fn cmd(&self, method: Method, what: &str, body: Option<&Value>) -> Result<Value, String> {
        self.browser
            .cmd(method, &format!("/element/{}{what}", self.id), body)
    }

    /// Clicks it (scrolled into view; `Err` if something else covers it).
    pub fn click(&self) -> Result<(), String> {
        self.cmd(Method::Post, "/click", Some(&json!({}))).map(drop)
    }

    /// Its rendered text (as a user sees it).
    pub fn text(&self) -> Result<String, String> {
        string(self.cmd(Method::Get, "/text", None)?, "text")
    }

    /// An HTML attribute; `None` when it is absent.
    pub fn attribute(&self, name: &str) -> Result<Option<String>, String> {
        let v = self.cmd(Method::Get, &format!("/attribute/{name}"), None)?;
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(format!("attribute {name}: not a string: {other}")),
        }
    }

    /// A DOM property (`checked`, `value`, `disabled`, ...).
    pub fn property(&self, name: &str) -> Result<Value, String> {
        self.cmd(Method::Get, &format!("/property/{name}"), None)
    }

    /// Focuses it and types `text` (characters and [`keys`] codes).
    pub fn send_keys(&self, text: &str) -> Result<(), String> {
        self.cmd(Method::Post, "/value", Some(&json!({ "text": text })))
            .map(drop)
    }

    /// Focuses it and presses one key ([`keys::ENTER`], [`keys::TAB`], ...).
    pub fn press_key(&self, key: &str) -> Result<(), String> {
        self.send_keys(key)
    }

    /// Empties an `<input>` or `<textarea>`.
    pub fn clear(&self) -> Result<(), String> {
        self.cmd(Method::Post, "/clear", Some(&json!({}))).map(drop)
    }
}

// ---- base64 -------------------------------------------------------------------------------------

/// Decodes standard base64 (RFC 4648, `+` and `/`, padding optional,
/// whitespace ignored).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits, mut padding) = (0u32, 0u32, 0usize);
    for (i, &c) in text.as_bytes().iter().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return Err(format!("base64: data after the padding at byte {i}"));
        }
        let v = value(c).ok_or_else(|| format!("base64: invalid byte {c:#04x} at {i}"))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // 2 or 4 leftover bits (of 2 or 3 characters in the last group) are fine;
    // 6 (a lone character) is not.
    if bits >= 6 || padding > 2 {
        return Err("base64: truncated input".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(base64_decode("Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
        assert_eq!(base64_decode("+/8=").unwrap(), [0xfb, 0xff]);
        assert!(base64_decode("Zm9vY").is_err());
        assert!(base64_decode("Zm$v").is_err());
        assert!(base64_decode("Zg==Zg==").is_err());
    }
}
