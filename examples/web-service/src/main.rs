//! `web-service --name frontend --listen 127.0.0.1:3000 --downstream http://127.0.0.1:3001
//! [--consent-store memory|postgres://…] [--max-staleness-ms 2000]`
//!
//! `web-service --write-monitoring DIR` writes the Prometheus alert rules,
//! their promtool tests and the Grafana dashboards generated from the
//! service's catalogue into `DIR`, and exits.
//!
//! The consent store is in memory by default (one instance); replicas
//! share a PostgreSQL database (`--consent-store`, or the
//! `CONSENT_STORE_URL` variable). The connection string is never printed.
//!
//! Prints `listening on <address>` once it accepts connections; stops on
//! Ctrl-C or SIGTERM, flushing its telemetry. Secrets come from the
//! environment (see `secrets`); a bad one stops it with an error message
//! and exit code 1.

use std::process::ExitCode;
use std::time::Duration;

use web_service_example::auth::Auth;
use web_service_example::consent_store::StoreChoice;
use web_service_example::secrets::{HashKey, ServiceToken};
use web_service_example::{App, downstream::Downstream, router, setup};

struct Args {
    write_monitoring: Option<String>,
    name: String,
    listen: String,
    downstream: Option<String>,
    consent_store: Option<String>,
    max_staleness: Duration,
}

const USAGE: &str = "use --name NAME --listen ADDR [--downstream URL] [--consent-store memory|postgres://...] [--max-staleness-ms MS], or --write-monitoring DIR";

fn args() -> Result<Args, String> {
    let mut args = Args {
        write_monitoring: None,
        name: "frontend".into(),
        listen: "127.0.0.1:3000".into(),
        downstream: None,
        consent_store: None,
        max_staleness: Duration::from_secs(2),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--write-monitoring" => args.write_monitoring = Some(value()?),
            "--name" => args.name = value()?,
            "--listen" => args.listen = value()?,
            "--downstream" => args.downstream = Some(value()?),
            // The value may hold a password: errors below never repeat it.
            "--consent-store" => args.consent_store = Some(value()?),
            "--max-staleness-ms" => {
                let v = value()?;
                let ms: u64 = v.parse().map_err(|_| {
                    format!("--max-staleness-ms {v:?}: give a whole number of milliseconds (at least 100)")
                })?;
                args.max_staleness = Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(args)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("web-service: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    if let Some(dir) = &args.write_monitoring {
        let functions = telemetry_dashboards::FunctionInfo::from_catalogue(
            &telemetry_core::catalogue::Catalogue::collect(),
        );
        let written = telemetry_dashboards::write_dir(
            &functions,
            &telemetry_dashboards::Options::default(),
            dir.as_ref(),
        )
        .map_err(|e| format!("cannot write the monitoring files into {dir}: {e}"))?;
        println!("{}", written.rules.display());
        println!("{}", written.rule_tests.display());
        for d in &written.dashboards {
            println!("{}", d.display());
        }
        return Ok(());
    }
    let hash_key = HashKey::from_env()?;
    let service_token = ServiceToken::from_env()?;
    for warning in [hash_key.warning(), service_token.warning()]
        .into_iter()
        .flatten()
    {
        eprintln!("{warning}");
    }
    let store = StoreChoice::from_flag_or_env(args.consent_store.as_deref())?;
    eprintln!("{}", store.describe());
    let instrumentation = setup::install(&args.name, &hash_key, &store, args.max_staleness)?;
    let downstream = args
        .downstream
        .map(|base| Downstream::new(base, &service_token, &instrumentation.telemetry))
        .transpose()?;
    let app = App {
        telemetry: instrumentation.telemetry.clone(),
        auth: Auth::new(&service_token),
        downstream,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, router(app)?)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    drop(instrumentation.process);
    let report = instrumentation.telemetry.shutdown(Duration::from_secs(5));
    eprintln!("telemetry shut down: {report:?}");
    Ok(())
}
