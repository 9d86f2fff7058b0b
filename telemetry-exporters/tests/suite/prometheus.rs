//! The Prometheus endpoint: names, types and labels of the exposition,
//! exemplars, consent, and the listener over real HTTP.
#![cfg(feature = "prometheus")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpStream;

use telemetry_core::*;
use telemetry_exporters::prometheus::{Format, PrometheusExporter};

fn telemetry() -> Telemetry {
    Telemetry::builder()
        .service("prom-test", "1.2.3")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(
            ConsentPolicy::opt_in()
                .require(Category::BUSINESS)
                .exempt(Category::PERFORMANCE),
        )
        .sampler(Sampler::always())
        .build()
        .unwrap()
}

/// Finds `pattern`'s sample line (a line starting with it).
fn line<'a>(text: &'a str, pattern: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(pattern))
}

/// Counts a call of a business-category instrumented function.
#[instrument_event(name = "prom.order", category = business)]
fn order() {}

/// A performance-category instrumented function.
#[instrument_event(name = "prom.work", category = performance)]
fn work(fail: bool) -> Result<(), std::fmt::Error> {
    if fail { Err(std::fmt::Error) } else { Ok(()) }
}

#[test]
fn the_exposition_follows_the_prometheus_compatibility_rules() {
    let t = telemetry();
    let orders = t
        .counter("shop.orders", Category::PERFORMANCE)
        .unit("{order}")
        .description("Orders \"placed\"\nso far.")
        .attribute("payment.method")
        .build()
        .unwrap();
    orders.add(3, &[("payment.method", Value::Str("card \"x\\y\""))]);
    let latency = t
        .histogram("rpc.latency", Category::PERFORMANCE)
        .unit("ms")
        .boundaries(vec![10.0, 100.0])
        .build()
        .unwrap();
    for v in [5.0, 50.0, 500.0] {
        latency.record(v, &[]);
    }
    let depth = t
        .up_down_counter("queue.depth", Category::PERFORMANCE)
        .unit("{item}")
        .build()
        .unwrap();
    depth.add(-2, &[]);
    let text = PrometheusExporter::new(&t).render(Format::Text);
    assert!(text.contains("# TYPE shop_orders_total counter"), "{text}");
    assert!(
        text.contains("# HELP shop_orders_total Orders \"placed\"\\nso far."),
        "{text}"
    );
    assert_eq!(
        line(&text, "shop_orders_total{"),
        Some(
            r#"shop_orders_total{payment_method="card \"x\\y\"",telemetry_category="performance"} 3"#
        )
    );
    // Buckets are cumulative, with +Inf, _sum and _count; the unit is a suffix.
    assert!(text.contains("# TYPE rpc_latency_milliseconds histogram"));
    for (le, n) in [("10", 1), ("100", 2), ("+Inf", 3)] {
        let want = format!(
            "rpc_latency_milliseconds_bucket{{telemetry_category=\"performance\",le=\"{le}\"}} {n}"
        );
        assert!(text.contains(&want), "{want} in {text}");
    }
    assert!(text.contains("rpc_latency_milliseconds_sum{telemetry_category=\"performance\"} 555"));
    assert!(text.contains("rpc_latency_milliseconds_count{telemetry_category=\"performance\"} 3"));
    // A non-monotonic sum is a gauge.
    assert!(text.contains("# TYPE queue_depth gauge"));
    assert!(text.contains("queue_depth{telemetry_category=\"performance\"} -2"));
    // The resource is target_info.
    let info = line(&text, "target_info{").unwrap();
    assert!(info.contains("service_name=\"prom-test\""), "{info}");
    assert!(info.contains("service_version=\"1.2.3\""), "{info}");
    assert!(info.ends_with(" 1"));
    // The library's own metrics are there too, under the same rules, with
    // the drop causes operators alert on at 0 from the first scrape.
    assert!(text.contains("# TYPE telemetry_export_failures_total counter"));
    assert!(text.contains("telemetry_export_failures_total{telemetry_category=\"telemetry\"} 0"));
    for cause in ["queue_full", "exporter_failure"] {
        let zero = format!(
            "telemetry_records_dropped_total{{cause=\"{cause}\",telemetry_category=\"business\"}} 0"
        );
        assert!(text.contains(&zero), "{zero} in {text}");
    }
    assert!(!text.contains("# EOF"));
    t.shutdown(std::time::Duration::from_secs(1));
}

#[test]
fn function_metrics_are_one_family_with_exemplars_in_openmetrics() {
    let t = telemetry();
    let _default = t.set_default();
    t.consent().grant("ada", Category::BUSINESS).unwrap();
    work(false).unwrap();
    work(true).unwrap_err();
    {
        let _s = t.subject("ada");
        order();
    }
    {
        // Denied: never measured, so never scraped.
        let _s = t.subject("bob");
        order();
        order();
    }
    let om = PrometheusExporter::new(&t).render(Format::OpenMetrics);
    assert!(om.ends_with("# EOF\n"), "{om}");
    // One family for every function, in every category.
    assert_eq!(
        om.matches("# TYPE function_calls counter").count(),
        1,
        "{om}"
    );
    assert_eq!(
        om.matches("# TYPE function_duration_seconds histogram")
            .count(),
        1
    );
    let module = module_path!();
    let order_line = line(
        &om,
        &format!(
            "function_calls_total{{function=\"prom.order\",module=\"{module}\",outcome=\"ok\",telemetry_category=\"business\"}} "
        ),
    )
    .unwrap_or_else(|| panic!("{om}"));
    let (value, exemplar) = order_line
        .split_once(' ')
        .map(|(_, rest)| rest.split_once(" # ").unwrap_or((rest, "")))
        .unwrap();
    assert_eq!(value, "1", "only ada's call: bob's were denied");
    // The exemplar names the call's exported span.
    t.force_flush().unwrap();
    assert!(exemplar.starts_with("{trace_id=\""), "{order_line}");
    let error_line = om
        .lines()
        .find(|l| {
            l.starts_with("function_calls_total{function=\"prom.work\"")
                && l.contains("outcome=\"error\"")
        })
        .unwrap();
    assert!(
        error_line.contains("error_type=\"core::fmt::Error\""),
        "{error_line}"
    );
    // The duration's exemplar sits on one bucket line of its series.
    let with_exemplar = om
        .lines()
        .filter(|l| {
            l.starts_with("function_duration_seconds_bucket{function=\"prom.work\"")
                && l.contains(" # {trace_id=")
        })
        .count();
    assert_eq!(with_exemplar, 2, "one per outcome series: {om}");
    // The text format carries no exemplar.
    let text = PrometheusExporter::new(&t).render(Format::Text);
    assert!(!text.contains("trace_id"));
    assert!(text.contains("# TYPE function_calls_total counter"));
}

fn get(addr: std::net::SocketAddr, path: &str, accept: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_listener_serves_both_formats_and_stops_when_dropped() {
    let t = telemetry();
    let server = PrometheusExporter::new(&t)
        .serve("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let addr = server.local_addr();
    let text = get(addr, "/metrics", "text/plain");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/plain; version=0.0.4"), "{text}");
    assert!(text.contains("target_info{"));
    let om = get(
        addr,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    );
    assert!(
        om.contains("application/openmetrics-text; version=1.0.0"),
        "{om}"
    );
    assert!(om.trim_end().ends_with("# EOF"));
    assert!(get(addr, "/nope", "*/*").starts_with("HTTP/1.1 404"));
    // Scrapes from several threads at once.
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || get(addr, "/metrics", "text/plain")))
        .collect();
    for h in handles {
        assert!(h.join().unwrap().starts_with("HTTP/1.1 200"));
    }
    drop(server);
    // The listener's accept thread lets go of the port just after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the port is closed once the server is dropped"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
