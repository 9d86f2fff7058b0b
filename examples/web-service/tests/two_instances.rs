//! Two processes of the example service (a frontend calling an inventory
//! service) against a real collector on 127.0.0.1, driven with real HTTP
//! requests: one trace spans both processes, the downstream honours a
//! consent revoked upstream, `tracing` logs are correlated with their
//! spans, and the process metrics arrive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use telemetry_tests::Collector;

/// The trace of the frontend's `POST /checkout` server span made for the
/// `n`-th checkout (in arrival order).
fn checkout_traces(s: &Seen) -> Vec<Vec<u8>> {
    s.spans
        .iter()
        .filter(|x| x.service == "frontend" && x.name == "POST /checkout")
        .map(|x| x.trace.clone())
        .collect()
}

#[test]
fn a_trace_and_consent_cross_two_services() {
    let collector = Collector::start().expect("collector");
    let inventory = Instance::start("inventory", &collector.http_url(), None);
    let frontend = Instance::start("frontend", &collector.http_url(), Some(&inventory.url));
    let f = &frontend.url;

    // alice allows business data and says no to interaction data, at the
    // frontend only; bob allows business data and keeps the defaults.
    assert_eq!(
        send(
            "POST",
            &format!("{f}/consent/business"),
            "token-alice",
            None
        ),
        200
    );
    assert_eq!(
        send(
            "DELETE",
            &format!("{f}/consent/interaction"),
            "token-alice",
            None
        ),
        200
    );
    assert_eq!(
        send("POST", &format!("{f}/consent/business"), "token-bob", None),
        200
    );
    assert_eq!(
        send("POST", &format!("{f}/consent/nonsense"), "token-bob", None),
        400
    );
    assert_eq!(
        send("POST", &format!("{f}/consent/business"), "forged", None),
        401
    );
    // A path with an id in it that matches no route.
    assert_eq!(
        send("GET", &format!("{f}/items/83412"), "token-bob", None),
        404
    );
    let allowed: serde_json::Value = agent()
        .get(format!("{f}/consent"))
        .header("Authorization", "Bearer token-alice")
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(
        allowed["allowed"],
        serde_json::json!(["performance", "errors", "resource", "business"]),
        "alice's consent at the frontend"
    );

    let order =
        |sku: &str| serde_json::json!({ "sku": sku, "quantity": 2, "email": "x@example.com" });
    assert_eq!(
        send(
            "POST",
            &format!("{f}/checkout"),
            "token-alice",
            Some(order("ALICE-1"))
        ),
        200
    );
    assert_eq!(
        send(
            "POST",
            &format!("{f}/checkout"),
            "token-bob",
            Some(order("BOB-1"))
        ),
        200
    );

    // The frontend served 9 requests: 5 consent changes, 1 consent query,
    // 1 unknown path, 2 checkouts.
    let frontend_requests = 9;
    let complete = |s: &Seen| {
        checkout_traces(s).len() == 2
            && s.spans
                .iter()
                .filter(|x| x.service == "frontend" && x.kind == 2)
                .count()
                == frontend_requests
            && s.spans
                .iter()
                .filter(|x| x.name == "inventory.reserve_stock")
                .count()
                == 2
            && s.logs.iter().filter(|l| l.body == "stock checked").count() == 2
            && s.logs
                .iter()
                .filter(|l| l.name == "shop.order_placed")
                .count()
                == 2
            && ["frontend", "inventory"].iter().all(|svc| {
                s.metrics
                    .get("process.memory.usage")
                    .is_some_and(|set| set.contains(*svc))
            })
    };
    let arrived = collector.wait_for(Duration::from_secs(30), |c| complete(&seen(c)));
    frontend.stop();
    inventory.stop();
    let s = seen(&collector);
    assert!(arrived, "not everything arrived: {s:#?}");

    for trace in checkout_traces(&s) {
        let in_trace: Vec<&SpanSeen> = s.spans.iter().filter(|x| x.trace == trace).collect();
        let services: BTreeSet<&str> = in_trace.iter().map(|x| x.service.as_str()).collect();
        assert_eq!(
            services,
            BTreeSet::from(["frontend", "inventory"]),
            "{in_trace:#?}"
        );
        // The inventory's server span is a child of the frontend's client span.
        let client = in_trace
            .iter()
            .find(|x| x.service == "frontend" && x.name == "POST /reserve")
            .expect("client span");
        let server = in_trace
            .iter()
            .find(|x| x.service == "inventory" && x.name == "POST /reserve")
            .expect("server span");
        assert_eq!(server.parent, client.id);
        assert_eq!(
            (client.kind, server.kind),
            (3, 2),
            "client and server kinds"
        );
        // `tracing` logs in the inventory carry the span they were logged in.
        let log = s
            .logs
            .iter()
            .find(|l| l.trace == trace && l.body == "stock checked")
            .expect("the inventory's log is in the trace");
        let span = in_trace
            .iter()
            .find(|x| x.id == log.span)
            .expect("its span");
        assert_eq!(span.name, "inventory.reserve_stock");
        assert_eq!(span.service, "inventory");
    }

    // Consent honoured downstream: the inventory service never heard of
    // alice's revocation, but her request told it.
    let interest: Vec<&LogSeen> = s
        .logs
        .iter()
        .filter(|l| l.name == "shop.product_interest")
        .collect();
    assert_eq!(
        interest.len(),
        1,
        "only bob's product interest: {interest:#?}"
    );
    assert_eq!(interest[0].service, "inventory");
    let bob_trace = &interest[0].trace;
    assert!(
        s.logs
            .iter()
            .any(|l| &l.trace == bob_trace && l.body == "checkout started"),
        "the recorded interest is bob's"
    );

    // Both instances got the harness's hash key, so bob has the same
    // pseudonym in both, the one that key gives.
    let bob = subject_key("bob");
    let order_placed: Vec<&LogSeen> = s
        .logs
        .iter()
        .filter(|l| l.name == "shop.order_placed" && &l.trace == bob_trace)
        .collect();
    assert_eq!(order_placed.len(), 1, "{order_placed:#?}");
    assert_eq!(order_placed[0].service, "frontend");
    assert_eq!(order_placed[0].subject.as_deref(), Some(bob.as_str()));
    assert_eq!(interest[0].subject.as_deref(), Some(bob.as_str()));

    // Server spans are named after the route template, never the path, and
    // say which route in `http.route`; a request that matched no route is
    // named after its method only.
    let server: BTreeSet<(&str, &str, Option<String>)> = s
        .spans
        .iter()
        .filter(|x| x.kind == 2)
        .map(|x| {
            (
                x.service.as_str(),
                x.name.as_str(),
                string_attr(&x.attributes, "http.route"),
            )
        })
        .collect();
    let route = |r: &str| Some(r.to_owned());
    assert_eq!(
        server,
        BTreeSet::from([
            (
                "frontend",
                "POST /consent/{category}",
                route("/consent/{category}")
            ),
            (
                "frontend",
                "DELETE /consent/{category}",
                route("/consent/{category}")
            ),
            ("frontend", "GET /consent", route("/consent")),
            ("frontend", "POST /checkout", route("/checkout")),
            ("frontend", "GET", None),
            ("inventory", "POST /reserve", route("/reserve")),
        ]),
        "server span names and routes"
    );
    assert!(
        s.spans
            .iter()
            .all(|x| string_attr(&x.attributes, "url.path").is_none()),
        "no url.path is exported"
    );
    // Nothing exported (spans, logs, metrics) holds a path that was
    // requested.
    let exported: Vec<String> = ["traces", "logs", "metrics"]
        .into_iter()
        .flat_map(|sig| collector.lines(sig))
        .collect();
    for path in [
        "/items/83412",
        "/consent/business",
        "/consent/interaction",
        "/consent/nonsense",
    ] {
        assert!(
            exported.iter().all(|line| !line.contains(path)),
            "{path} was exported"
        );
    }

    // Resource metrics from both processes.
    for metric in [
        "process.cpu.time",
        "process.memory.usage",
        "process.thread.count",
        "process.uptime",
    ] {
        let services = s.metrics.get(metric).cloned().unwrap_or_default();
        assert!(
            services.contains("frontend") && services.contains("inventory"),
            "{metric}: {services:?}"
        );
    }
}

/// What an instance printed before it stopped.
struct Run {
    /// `None` if it was still running (and was stopped).
    exit: Option<std::process::ExitStatus>,
    stdout: String,
    stderr: String,
}

/// Starts the service with `env` (and no secrets unless `env` names them),
/// gives it up to 20 s to either exit or say it listens, then stops it.
fn run_briefly(env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_web-service"));
    cmd.args(["--name", "frontend", "--listen", "127.0.0.1:0"])
        // Nothing listens there: the exporter's failures are not the point.
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("TELEMETRY_HASH_KEY")
        .env_remove("TELEMETRY_HASH_KEY_FILE")
        .env_remove("SERVICE_TOKEN")
        .env_remove("SERVICE_TOKEN_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the service");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        let _ = reader.read_line(&mut first);
        let _ = tx.send(first);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut all);
        all
    });
    let stdout = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    // It either said it listens (then it runs: stop it) or closed stdout
    // on its way out.
    let mut exit = None;
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            exit = Some(status);
            break;
        }
        if stdout.starts_with("listening on") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if exit.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = err_reader.join().unwrap_or_default();
    Run {
        exit,
        stdout,
        stderr,
    }
}

#[test]
fn bad_hash_key_material_is_a_startup_error() {
    let secret = "too-short-secret";
    for (var, value) in [
        ("TELEMETRY_HASH_KEY", secret),
        ("TELEMETRY_HASH_KEY", ""),
        ("TELEMETRY_HASH_KEY_FILE", "/nonexistent/hash.key"),
    ] {
        let run = run_briefly(&[(var, value)]);
        let status = run.exit.unwrap_or_else(|| {
            panic!(
                "{var}={value:?}: the service started anyway: {:?}\n{}",
                run.stdout, run.stderr
            )
        });
        // An error, reported: exit code 1, not a panic (101).
        assert_eq!(status.code(), Some(1), "{var}={value:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(
            run.stderr.contains(var),
            "names the variable: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(secret),
            "never echoes key material: {}",
            run.stderr
        );
    }
}

#[test]
fn a_bad_service_token_is_a_startup_error() {
    let secret = "short-token";
    for (var, value) in [
        ("SERVICE_TOKEN", secret),
        ("SERVICE_TOKEN", "has spaces in it, sixteen+"),
        ("SERVICE_TOKEN_FILE", "/nonexistent/service.token"),
    ] {
        let run = run_briefly(&[(var, value)]);
        let status = run.exit.unwrap_or_else(|| {
            panic!(
                "{var}={value:?}: the service started anyway: {:?}\n{}",
                run.stdout, run.stderr
            )
        });
        assert_eq!(status.code(), Some(1), "{var}={value:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(
            run.stderr.contains(var),
            "names the variable: {}",
            run.stderr
        );
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
    }
}

#[test]
fn with_no_hash_key_the_service_warns_and_runs() {
    let run = run_briefly(&[]);
    assert!(
        run.exit.is_none() && run.stdout.starts_with("listening on"),
        "it runs: {:?} {:?}\n{}",
        run.exit,
        run.stdout,
        run.stderr
    );
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("TELEMETRY_HASH_KEY"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning line: {}", run.stderr);
    assert!(
        warnings[0].starts_with("warning:") && warnings[0].contains("not be stable"),
        "{}",
        warnings[0]
    );
    // Nor a service token: the demo's, with a warning.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("warning:") && l.contains("SERVICE_TOKEN")),
        "{}",
        run.stderr
    );
}

/// POSTs `body` to `url` with `headers`; returns the status.
fn post_with(url: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> u16 {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send_json(body).unwrap().status().as_u16()
}

#[test]
fn only_the_peer_service_may_reserve_and_name_the_subject() {
    let inventory = Instance::start("inventory", NO_COLLECTOR, None);
    let url = format!("{}/reserve", inventory.url);
    let body = serde_json::json!({ "sku": "A-1", "quantity": 1 });
    let service = format!("Bearer {TEST_SERVICE_TOKEN}");
    // No credential, a wrong service token: not authenticated.
    assert_eq!(post_with(&url, &[], &body), 401);
    assert_eq!(
        post_with(
            &url,
            &[
                ("Authorization", "Bearer not-the-service-token"),
                ("x-subject-user", "alice")
            ],
            &body
        ),
        401
    );
    // An end user (even one who names another subject): not the service.
    assert_eq!(
        post_with(&url, &[("Authorization", "Bearer token-bob")], &body),
        403
    );
    assert_eq!(
        post_with(
            &url,
            &[
                ("Authorization", "Bearer token-bob"),
                ("x-subject-user", "alice")
            ],
            &body
        ),
        403
    );
    // The frontend, acting for bob.
    assert_eq!(
        post_with(
            &url,
            &[("Authorization", &service), ("x-subject-user", "bob")],
            &body
        ),
        200
    );
}

/// A stand-in for the inventory: answers every request with
/// `{"reserved":true}` and hands over the head of each request.
fn fake_inventory() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(read) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(read);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse::<usize>().ok())
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let reply = r#"{"reserved":true}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
            let _ = tx.send(head);
        }
    });
    (url, rx)
}

#[test]
fn the_frontend_calls_the_inventory_as_itself_not_with_the_users_token() {
    let (inventory, heads) = fake_inventory();
    let frontend = Instance::start("frontend", NO_COLLECTOR, Some(&inventory));
    let order = serde_json::json!({ "sku": "B-1", "quantity": 1, "email": "b@example.com" });
    assert_eq!(
        send(
            "POST",
            &format!("{}/checkout", frontend.url),
            "token-bob",
            Some(order)
        ),
        200
    );
    let head = heads
        .recv_timeout(Duration::from_secs(10))
        .expect("the frontend called the inventory");
    assert!(
        !head.contains("token-bob"),
        "the user's token was sent: {head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains(&format!(
            "authorization: bearer {}\r\n",
            TEST_SERVICE_TOKEN.to_ascii_lowercase()
        )),
        "the service token: {head}"
    );
    assert!(
        lower.contains("x-subject-user: bob\r\n"),
        "the user: {head}"
    );
}

/// The bytes of a hex string.
fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn an_end_user_can_neither_narrow_consent_nor_join_a_trace() {
    let collector = Collector::start().expect("collector");
    let inventory = Instance::start("inventory", &collector.http_url(), None);
    let frontend = Instance::start("frontend", &collector.http_url(), Some(&inventory.url));
    let f = &frontend.url;
    assert_eq!(
        send("POST", &format!("{f}/consent/business"), "token-bob", None),
        200
    );
    // bob's client sends a trace of its own and says bob allows nothing:
    // from a service of ours that would narrow consent and continue the
    // trace; from an end user, neither.
    let foreign_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let status = agent()
        .post(format!("{f}/checkout"))
        .header("Authorization", "Bearer token-bob")
        .header(
            "traceparent",
            format!("00-{foreign_trace}-00f067aa0ba902b7-01"),
        )
        .header("tracestate", "ot=th:0")
        .header("baggage", "telemetry.consent=-")
        .send_json(serde_json::json!({ "sku": "BOB-9", "quantity": 1, "email": "b@example.com" }))
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 200);

    let complete = |s: &Seen| {
        checkout_traces(s).len() == 1
            && s.spans.iter().any(|x| x.name == "inventory.reserve_stock")
            && s.logs.iter().any(|l| l.name == "shop.order_placed")
            && s.logs.iter().any(|l| l.name == "shop.product_interest")
    };
    let arrived = collector.wait_for(Duration::from_secs(30), |c| complete(&seen(c)));
    frontend.stop();
    inventory.stop();
    let s = seen(&collector);
    assert!(
        s.spans.iter().all(|x| x.trace != unhex(foreign_trace)),
        "a span joined the caller's trace: {:#?}",
        s.spans
    );
    assert!(arrived, "not everything arrived: {s:#?}");

    // A trace of the frontend's own, started at its server span, and
    // carried on to the inventory (the peer service is trusted).
    let trace = checkout_traces(&s).remove(0);
    let server = s
        .spans
        .iter()
        .find(|x| x.service == "frontend" && x.name == "POST /checkout")
        .expect("the frontend's server span");
    assert!(server.parent.is_empty(), "no remote parent: {server:#?}");
    let services: BTreeSet<&str> = s
        .spans
        .iter()
        .filter(|x| x.trace == trace)
        .map(|x| x.service.as_str())
        .collect();
    assert_eq!(services, BTreeSet::from(["frontend", "inventory"]));

    // Consent as bob set it, not narrowed: his order (business data) in the
    // frontend, his product interest (interaction data) in the inventory.
    let bob = subject_key("bob");
    for (name, service) in [
        ("shop.order_placed", "frontend"),
        ("shop.product_interest", "inventory"),
    ] {
        let log = s
            .logs
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("{name} was withheld"));
        assert_eq!(
            (
                log.service.as_str(),
                log.trace.as_slice(),
                log.subject.as_deref()
            ),
            (service, trace.as_slice(), Some(bob.as_str())),
            "{name}"
        );
    }
}
