//! The opt-in process panic hook (a binary of its own: the hook is
//! process-wide). A panic outside any instrumented function becomes an
//! `exception` event with its location and thread, never its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;

#[test]
fn panics_anywhere_are_recorded_without_their_message() {
    let exporter = InMemoryExporter::new();
    let t = Telemetry::builder()
        .service("panics", "1")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), b"panic hook test key 0123456789abcdef")
        .exporter(exporter.clone())
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    t.record_panics(Duration::from_secs(1));
    let line = line!() + 4;
    let worker = std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(|| {
            panic!("no account for bob@example.com");
        })
        .unwrap();
    assert!(worker.join().is_err());
    assert!(telemetry_core::panic_hook::panics_seen() >= 1);
    t.force_flush().unwrap();
    let events = exporter.events_named("exception");
    let e = events
        .iter()
        .find(|e| {
            e.attributes
                .iter()
                .any(|a| a.key == "thread.name" && a.value.render() == "worker-7")
        })
        .expect("the panic's event");
    let attr = |k: &str| {
        e.attributes
            .iter()
            .find(|a| a.key == k)
            .map(|a| a.value.render().into_owned())
    };
    assert_eq!(e.category, Category::ERRORS);
    assert_eq!(e.severity, Severity::Fatal);
    assert_eq!(attr("exception.type").as_deref(), Some("panic"));
    assert!(attr("code.filepath").unwrap().ends_with("panic_hook.rs"));
    assert_eq!(attr("code.lineno"), Some(line.to_string()));
    assert!(!exporter.exported_json().contains("bob@example.com"));
    // Once the instance is gone, the hook records nothing and keeps working.
    t.shutdown(Duration::from_secs(1));
    drop(t);
    let again = std::thread::spawn(|| panic!("after shutdown"));
    assert!(again.join().is_err());
}
