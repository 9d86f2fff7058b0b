//! The PostgreSQL consent store in a fleet, against a real PostgreSQL
//! (started by `tests/postgres/start.sh`):
//!
//! 1. change propagation: one process revokes, three other processes
//!    (replicas) watch; the time from `revoke` returning to each replica
//!    refusing the category, p50/p99/max;
//! 2. revocations per second the store sustains (1 and 4 threads);
//! 3. start-up time and RSS of a replica with 0 and with 1,000,000
//!    subjects in the table, and the cost of a cache miss (a subject
//!    loaded on first sighting).
//!
//! `cargo bench -p telemetry-consent-postgres --bench fleet`. The hit path
//! (a cached subject's consent check) is in telemetry-core's `hot_path`
//! bench (`shared_store` group), beside the local store and the atomic
//! floor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use telemetry_consent_postgres::PostgresConsentStore;
use telemetry_core::{Category, ConsentPolicy, Environment, KeyId, Telemetry};
use telemetry_tests::postgres::Postgres;

const KEY: &[u8] = b"fleet bench hash key, not a secret!!";
const SUBJECTS: usize = 200;

fn telemetry(url: &str, schema: &str) -> Telemetry {
    let store = PostgresConsentStore::builder(url)
        .schema(schema)
        .build()
        .unwrap();
    Telemetry::builder()
        .service("fleet-bench", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), KEY)
        .consent(ConsentPolicy::opt_in().require(Category::BUSINESS))
        .shared_consent_store(store)
        .build()
        .unwrap()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A replica that watches: waits until it sees every subject granted,
/// says `ready`, then notes when each one is refused.
fn follower(url: &str) {
    let t = telemetry(url, "bench_prop");
    let subjects: Vec<String> = (0..SUBJECTS).map(|i| format!("s{i}")).collect();
    for s in &subjects {
        t.consent()
            .prefetch_within(s, Duration::from_secs(5))
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !subjects
        .iter()
        .all(|s| t.consent().allows(s, Category::BUSINESS))
    {
        assert!(Instant::now() < deadline, "grants never arrived");
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("ready");
    let mut seen: Vec<Option<u128>> = vec![None; SUBJECTS];
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.iter().any(Option::is_none) && Instant::now() < deadline {
        for (i, s) in subjects.iter().enumerate() {
            if seen[i].is_none() && !t.consent().allows(s, Category::BUSINESS) {
                seen[i] = Some(now_nanos());
            }
        }
    }
    for (i, at) in seen.iter().enumerate() {
        println!("s{i} {}", at.map_or(-1, |n| n as i128));
    }
}

/// A fresh replica: start-up time, RSS, and the cost of a miss.
fn starter(url: &str, schema: &str) {
    let before = rss_kib();
    let started = Instant::now();
    let t = telemetry(url, schema);
    let startup = started.elapsed();
    let after = rss_kib();
    let mut misses: Vec<f64> = (0..200)
        .map(|i| {
            let s = format!("miss-{i}-{}", now_nanos());
            let at = Instant::now();
            t.consent()
                .prefetch_within(&s, Duration::from_secs(5))
                .unwrap();
            at.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    misses.sort_by(f64::total_cmp);
    println!(
        "{} {} {} {:.0} {:.0}",
        startup.as_millis(),
        before,
        after,
        percentile(&misses, 0.5),
        percentile(&misses, 0.99)
    );
}

fn child(role: &str, url: &str, extra: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .env("FLEET_BENCH_ROLE", role)
        .env("FLEET_BENCH_URL", url)
        .env("FLEET_BENCH_EXTRA", extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn propagation(pg: &Postgres) {
    let writer = telemetry(&pg.url, "bench_prop");
    let subjects: Vec<String> = (0..SUBJECTS).map(|i| format!("s{i}")).collect();
    for s in &subjects {
        writer.consent().grant(s, Category::BUSINESS).unwrap();
    }
    let mut followers: Vec<_> = (0..3).map(|_| child("follower", &pg.url, "")).collect();
    let mut outputs: Vec<BufReader<std::process::ChildStdout>> = followers
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()))
        .collect();
    for out in &mut outputs {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
    }
    let mut committed = Vec::with_capacity(SUBJECTS);
    for s in &subjects {
        writer.consent().revoke(s, Category::BUSINESS).unwrap();
        committed.push(now_nanos());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut latencies = Vec::new();
    let mut missing = 0;
    for (out, mut child) in outputs.into_iter().zip(followers) {
        for line in out.lines() {
            let line = line.unwrap();
            let mut f = line.split_whitespace();
            let i: usize = f.next().unwrap()[1..].parse().unwrap();
            let at: i128 = f.next().unwrap().parse().unwrap();
            if at < 0 {
                missing += 1;
            } else {
                latencies.push((at - committed[i] as i128) as f64 / 1e6);
            }
        }
        child.wait().unwrap();
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "propagation, 3 replicas x {SUBJECTS} revocations: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, min {:.1} ms, not seen {missing}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        latencies.first().copied().unwrap_or(f64::NAN),
    );
}

fn throughput(pg: &Postgres) {
    let t = telemetry(&pg.url, "bench_rate");
    for threads in [1usize, 4] {
        let run_for = Duration::from_secs(5);
        let total: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|n| {
                    let t = &t;
                    scope.spawn(move || {
                        let start = Instant::now();
                        let mut done = 0usize;
                        while start.elapsed() < run_for {
                            let s = format!("rate-{n}-{}", done % 1000);
                            t.consent().revoke(&s, Category::BUSINESS).unwrap();
                            done += 1;
                        }
                        done
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        println!(
            "revocations committed, {threads} thread(s): {:.0}/s",
            total as f64 / run_for.as_secs_f64()
        );
    }
    t.shutdown(Duration::from_secs(5));
}

fn startup(pg: &Postgres) {
    // The schema exists, empty, then with 1,000,000 subjects.
    drop(telemetry(&pg.url, "bench_start"));
    for (label, rows) in [("0 subjects", 0u64), ("1,000,000 subjects", 1_000_000)] {
        if rows > 0 {
            pg.psql(&format!(
                "INSERT INTO bench_start.subjects (subject_key, granted, denied, change)
                 SELECT decode(lpad(to_hex(i), 32, '0'), 'hex'), 1, 0, 0
                 FROM generate_series(1, {rows}) i"
            ))
            .unwrap();
            pg.psql("VACUUM ANALYZE bench_start.subjects").unwrap();
        }
        let out = child("starter", &pg.url, "bench_start")
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.split_whitespace().collect();
        println!(
            "start-up with {label}: {} ms to build; RSS {} KiB before, {} KiB after; cache miss p50 {} µs, p99 {} µs",
            f[0], f[1], f[2], f[3], f[4]
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let url = std::env::var("FLEET_BENCH_URL").unwrap_or_default();
    match std::env::var("FLEET_BENCH_ROLE").as_deref() {
        Ok("follower") => return follower(&url),
        Ok("starter") => {
            return starter(&url, &std::env::var("FLEET_BENCH_EXTRA").unwrap());
        }
        _ => {}
    }
    let pg = Postgres::start().expect("PostgreSQL did not start");
    println!("PostgreSQL at {}", pg.port);
    propagation(&pg);
    throughput(&pg);
    startup(&pg);
    std::io::stdout().flush().unwrap();
}
