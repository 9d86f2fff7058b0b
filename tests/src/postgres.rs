//! A real PostgreSQL server for a test: started on 127.0.0.1 on a free
//! port by `tests/postgres/start.sh` (installed if missing), with a
//! throw-away data directory under the target directory, and stopped (and
//! removed) when dropped. A watchdog also stops it if the test process
//! dies first.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::free_port;

/// The repository's `tests/postgres` directory.
pub fn postgres_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("postgres")
}

/// A running server.
#[derive(Debug)]
pub struct Postgres {
    /// `postgres://postgres:postgres@127.0.0.1:<port>/telemetry`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// Its data directory.
    pub dir: PathBuf,
}

fn run(script: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(postgres_scripts().join(script))
        .args(args)
        .env("PG_PARENT_PID", std::process::id().to_string())
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{script} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Postgres {
    /// Installs PostgreSQL if needed and starts a fresh server.
    pub fn start() -> Result<Postgres, String> {
        run("install.sh", &[])?;
        let base = std::env::var_os("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let dir = base.join(format!("pg-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let dir_text = dir.to_string_lossy().into_owned();
            match run("start.sh", &[&dir_text, &port.to_string()]) {
                Ok(url) => return Ok(Postgres { url, port, dir }),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Stops the server (an outage); [`start_again`](Self::start_again)
    /// brings it back with the same data on the same port.
    pub fn stop(&self) -> Result<(), String> {
        run("stop.sh", &[&self.dir.to_string_lossy()]).map(|_| ())
    }

    /// Starts the stopped server again.
    pub fn start_again(&self) -> Result<(), String> {
        run(
            "start.sh",
            &[&self.dir.to_string_lossy(), &self.port.to_string()],
        )
        .map(|_| ())
    }

    /// Runs SQL as the superuser; gives psql's output (unaligned, tuples
    /// only).
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        run("psql.sh", &[&self.dir.to_string_lossy(), "-At", "-c", sql])
    }

    /// The URL for another role (e.g. one with fewer permissions).
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/telemetry",
            self.port
        )
    }

    /// The URL through another port (e.g. a [`TcpProxy`](crate::proxy::TcpProxy)).
    pub fn url_via(&self, port: u16) -> String {
        self.url
            .replace(&format!(":{}/", self.port), &format!(":{port}/"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = run("stop.sh", &["--remove", &self.dir.to_string_lossy()]);
    }
}
