//! The server middleware in a real axum server on 127.0.0.1, driven over
//! HTTP: route-template span names (never the path), the duration
//! histogram, the identify hook's subject and trust, and a subject whose
//! consent a shared store had not cached loaded before the handler runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use telemetry_core::export::MetricPoints;
use telemetry_core::testing::{InMemoryExporter, SharedMemoryStore};
use telemetry_core::*;
use telemetry_http::server::{Identity, ServerLayer};

const KEY: &[u8] = b"server middleware test key 0123456789";

fn instance(store: SharedMemoryStore, exporter: &InMemoryExporter) -> Telemetry {
    Telemetry::builder()
        .service("shop", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), KEY)
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE),
        )
        .shared_consent_store(store)
        .exporter(exporter.clone())
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// Serves `app` on a free port of 127.0.0.1 on a runtime of its own.
fn serve(app: Router) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });
    (url, rt)
}

fn get_with(url: &str, headers: &[(&str, &str)]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.call().unwrap().status().as_u16()
}

#[test]
fn requests_are_named_by_route_measured_and_run_in_their_subjects_scope() {
    // Another replica takes the grant; the server runs on replica `b`,
    // which has not cached the customer: the middleware loads her choices
    // before the handler runs.
    let exporter = InMemoryExporter::new();
    let shared = SharedMemoryStore::new();
    let b = instance(shared.clone(), &exporter);
    let other = instance(shared.replica(), &InMemoryExporter::new());
    other.consent().grant("ann", Category::BUSINESS).unwrap();
    // Loads in the background never answer on `b`: only the middleware's
    // prefetch (a direct load) can make ann's choices known in time.
    shared.hold_loads(true);

    let t = b.clone();
    let app = Router::new()
        .route(
            "/items/{id}",
            get(move || {
                let t = t.clone();
                async move {
                    t.event("shop.item_viewed", Category::BUSINESS).emit();
                    "item"
                }
            }),
        )
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(ServerLayer::new(&b).identify(|parts| {
            let user = parts
                .headers
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if parts.headers.contains_key("x-peer") {
                Identity::peer(user)
            } else {
                Identity::user(user)
            }
        }));
    let (url, _rt) = serve(app);

    let upstream_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{upstream_trace}-00f067aa0ba902b7-01");
    assert_eq!(
        get_with(&format!("{url}/items/83412"), &[("x-user", "ann")]),
        200
    );
    assert_eq!(
        get_with(
            &format!("{url}/items/7"),
            &[("x-user", "ann"), ("traceparent", &traceparent)]
        ),
        200
    );
    assert_eq!(
        get_with(
            &format!("{url}/items/8"),
            &[
                ("x-user", "ann"),
                ("x-peer", "1"),
                ("traceparent", &traceparent)
            ]
        ),
        200
    );
    assert_eq!(get_with(&format!("{url}/fail"), &[]), 500);
    assert_eq!(get_with(&format!("{url}/nowhere/5"), &[]), 404);
    b.force_flush().unwrap();

    let spans = exporter.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "GET /items/{id}").count(),
        3,
        "{names:?}"
    );
    assert!(
        names.contains(&"GET /fail") && names.contains(&"GET"),
        "{names:?}"
    );
    assert!(spans.iter().all(|s| s.kind == SpanKind::Server));
    let json = exporter.exported_json();
    assert!(!json.contains("83412"), "the path is never recorded");
    // Only the trusted peer's trace is continued.
    let continued: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id.to_string() == upstream_trace)
        .collect();
    assert_eq!(
        continued.len(),
        1,
        "one trusted request continues the trace"
    );
    // ann's business events, although this replica had not cached her
    // consent when her first request came.
    let viewed = exporter.events_named("shop.item_viewed");
    assert_eq!(viewed.len(), 3);
    let ann = b.consent().subject_key("ann");
    assert!(viewed.iter().all(|e| e.subject == Some(ann)));
    assert_eq!(b.drops().get(DropCause::Unconfirmed, Category::BUSINESS), 0);
    // The duration histogram, by route and status.
    let m = exporter
        .last_metric("http.server.request.duration")
        .expect("the duration histogram");
    assert_eq!(m.unit, "s");
    let MetricPoints::Histogram { points, .. } = &m.points else {
        panic!("not a histogram: {m:?}")
    };
    let point = |route: &str, status: &str| {
        points.iter().find(|p| {
            p.attributes
                .iter()
                .any(|a| a.key == "http.route" && a.value.render() == route)
                && p.attributes
                    .iter()
                    .any(|a| a.key == "http.response.status_code" && a.value.render() == status)
        })
    };
    assert_eq!(point("/items/{id}", "200").map(|p| p.count), Some(3));
    let failed = point("/fail", "500").expect("the failed request");
    assert!(
        failed
            .attributes
            .iter()
            .any(|a| a.key == "error.type" && a.value.render() == "500")
    );
    drop(other);
}
