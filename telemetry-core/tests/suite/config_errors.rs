//! Every invalid configuration is a build-time error that says what is wrong
//! and how to fix it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use crate::common::*;
use telemetry_core::event::*;
use telemetry_core::export::*;
use telemetry_core::*;

fn err(b: TelemetryBuilder) -> ConfigError {
    b.build().expect_err("configuration should be rejected")
}

fn check(e: ConfigError, kind: ConfigErrorKind, needles: &[&str]) {
    assert_eq!(e.kind(), kind, "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("invalid telemetry configuration: "),
        "{msg}"
    );
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} should contain {n:?}");
    }
}

#[test]
fn probability_outside_zero_to_one() {
    for p in [-0.5, 1.01, f64::NAN, f64::INFINITY] {
        let e = err(builder().sampler(Sampler::per_category([(Category::PERFORMANCE, p)])));
        check(
            e,
            ConfigErrorKind::InvalidProbability,
            &["`performance`", "between 0.0 and 1.0"],
        );
    }
    let e = err(builder().sampler(Sampler::ratio(3.0)));
    check(
        e,
        ConfigErrorKind::InvalidProbability,
        &["default probability", "between 0.0 and 1.0"],
    );
}

#[test]
fn empty_or_missing_service_name() {
    let e = err(Telemetry::builder().service("  ", "1"));
    check(
        e,
        ConfigErrorKind::EmptyServiceName,
        &["service name is empty", ".service("],
    );
    let e = err(Telemetry::builder());
    check(
        e,
        ConfigErrorKind::EmptyServiceName,
        &["service name is empty"],
    );
}

static HASHED: EventSchema = EventSchema {
    name: "signup.completed",
    category: Category::BUSINESS,
    version: 1,
    description: "",
    fields: &[FieldSchema {
        name: "email",
        ty: FieldType::String,
        class: FieldClass::Hashed,
    }],
};

#[test]
fn missing_hash_key_when_a_field_needs_hashing() {
    let e = err(Telemetry::builder().service("s", "1").event_schema(&HASHED));
    check(
        e,
        ConfigErrorKind::MissingHashKey,
        &["`signup.completed`", "`email`", ".hash_key(KeyId(1)"],
    );
    // With a key it builds.
    assert!(builder().event_schema(&HASHED).build().is_ok());
}

#[test]
fn hash_key_too_short_or_reused() {
    let e = err(Telemetry::builder()
        .service("s", "1")
        .hash_key(KeyId(3), b"short"));
    check(
        e,
        ConfigErrorKind::InvalidKey,
        &["hash key 3 is 5 bytes", "at least 16"],
    );
    let e = err(builder().hash_key(KeyId(1), KEY));
    check(e, ConfigErrorKind::InvalidKey, &["key id 1 is used twice"]);
    let e = err(builder().subject_key(b"tiny"));
    check(e, ConfigErrorKind::InvalidKey, &["subject key is 4 bytes"]);
}

#[test]
fn duplicate_categories() {
    let fraud = Category::custom(0);
    let e = err(builder().category(fraud, "fraud").category(fraud, "risk"));
    check(
        e,
        ConfigErrorKind::DuplicateCategory,
        &["defined twice", "`fraud`", "`risk`"],
    );
    let e = err(builder()
        .category(fraud, "fraud")
        .category(Category::custom(1), "fraud"));
    check(
        e,
        ConfigErrorKind::DuplicateCategory,
        &["two categories are named `fraud`"],
    );
    let e = err(builder().category(Category::custom(2), "business"));
    check(
        e,
        ConfigErrorKind::DuplicateCategory,
        &["`business` is the name of a built-in category"],
    );
    // Names that mean something else in consent records.
    for (name, why) in [
        ("-", "no category"),
        ("custom-7", "prefixes of unnamed categories"),
        ("reserved-1", "prefixes of unnamed categories"),
        (" fraud", "white space"),
        ("fr\naud", "control character"),
    ] {
        let e = err(builder().category(Category::custom(3), name));
        check(
            e,
            ConfigErrorKind::DuplicateCategory,
            &[why, "like \"fraud\""],
        );
    }
    let e = err(builder().category(Category::BUSINESS, "money"));
    check(e, ConfigErrorKind::DuplicateCategory, &["built in"]);
    let e = err(builder().sampler(Sampler::per_category([
        (Category::BUSINESS, 0.5),
        (Category::BUSINESS, 0.1),
    ])));
    check(e, ConfigErrorKind::DuplicateCategory, &["`business` twice"]);
}

#[test]
fn contradictory_consent_policy() {
    let e = err(builder().consent(
        ConsentPolicy::opt_in()
            .exempt(Category::BUSINESS)
            .require(Category::BUSINESS),
    ));
    check(
        e,
        ConfigErrorKind::ConflictingConsent,
        &["`business` both `exempt` and `require`"],
    );
    let fraud = Category::custom(5);
    let e = err(builder().category(fraud, "fraud").consent(
        ConsentPolicy::opt_in()
            .require_opt_in(fraud)
            .require_opt_out(fraud),
    ));
    check(
        e,
        ConfigErrorKind::ConflictingConsent,
        &["`fraud` both `require_opt_in` and `require_opt_out`"],
    );
}

#[test]
fn zero_sizes_and_intervals() {
    check(
        err(builder().queue_capacity(0)),
        ConfigErrorKind::InvalidLimit,
        &["queue_capacity is 0"],
    );
    check(
        err(builder().batch_size(0)),
        ConfigErrorKind::InvalidLimit,
        &["batch_size is 0"],
    );
    check(
        err(builder().flush_interval(Duration::ZERO)),
        ConfigErrorKind::InvalidLimit,
        &["flush_interval is zero"],
    );
    let limits = Limits {
        max_attributes: 0,
        ..Limits::default()
    };
    check(
        err(builder().limits(limits)),
        ConfigErrorKind::InvalidLimit,
        &["limits.max_attributes is 0"],
    );
    let e = err(builder().sampler(Sampler::always().rate_limit(Category::BUSINESS, 0)));
    check(
        e,
        ConfigErrorKind::InvalidLimit,
        &["rate limit of category `business` is 0"],
    );
}

#[test]
fn rotating_to_an_unknown_key() {
    let t = builder().build().unwrap();
    let e = t.rotate_hash_key(KeyId(9)).unwrap_err();
    check(
        e,
        ConfigErrorKind::InvalidKey,
        &["hash key 9 is not configured"],
    );
}

#[test]
fn debug_output_never_shows_key_material() {
    let b = builder().subject_key(b"subject key material 0123456789");
    let dbg = format!("{b:?}");
    assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
    assert!(!dbg.contains("subject key material"), "{dbg}");
    let t = b.build().unwrap();
    assert!(!format!("{t:?}").contains("0123456789abcdef"));
}

#[test]
fn otel_service_name_and_resource_attributes_override_code_unless_code_wins() {
    let env = || {
        Environment::from_pairs([
            ("OTEL_SERVICE_NAME", "from-env"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "cloud.region=eu-west-1,team=payments%20core,service.name=ignored",
            ),
        ])
    };
    let t = builder()
        .env(env())
        .resource_attribute("team", "code-team")
        .build()
        .unwrap();
    let r = t.resource();
    assert_eq!(r.service_name(), "from-env");
    assert_eq!(r.get("cloud.region"), Some(&AttrValue::from("eu-west-1")));
    assert_eq!(r.get("team"), Some(&AttrValue::from("payments core")));
    let t = builder()
        .env(env())
        .resource_attribute("team", "code-team")
        .resource_code_wins()
        .build()
        .unwrap();
    assert_eq!(t.resource().service_name(), "test-service");
    assert_eq!(
        t.resource().get("team"),
        Some(&AttrValue::from("code-team"))
    );
    // OTEL_SERVICE_NAME alone is enough for a service with no name in code.
    let t = Telemetry::builder()
        .env(Environment::from_pairs([("OTEL_SERVICE_NAME", "only-env")]))
        .build()
        .unwrap();
    assert_eq!(t.resource().service_name(), "only-env");
    // An empty `service.name=` in the attributes names nothing: the name in
    // code stands.
    let t = builder()
        .env(Environment::from_pairs([(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=,team=a",
        )]))
        .build()
        .unwrap();
    assert_eq!(t.resource().service_name(), "test-service");
    let e = err(builder().env(Environment::from_pairs([(
        "OTEL_RESOURCE_ATTRIBUTES",
        "novalue",
    )])));
    assert!(
        e.to_string()
            .contains("OTEL_RESOURCE_ATTRIBUTES has `novalue`"),
        "{e}"
    );
}

#[test]
fn the_otel_sampler_and_metric_interval_variables_apply_unless_code_says_otherwise() {
    use telemetry_core::testing::InMemoryExporter;
    let env = |pairs: &[(&str, &str)]| Environment::from_pairs(pairs.iter().copied());
    // Always off from the environment: spans are sampled out.
    let exp = InMemoryExporter::new();
    let t = Telemetry::builder()
        .service("s", "1")
        .hash_key(KeyId(1), KEY)
        .env(env(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ]))
        .exporter(exp.clone())
        .build()
        .unwrap();
    drop(t.span("op", Category::PERFORMANCE));
    t.force_flush().unwrap();
    assert!(exp.spans().is_empty());
    assert_eq!(t.drops().get(DropCause::Sampling, Category::PERFORMANCE), 1);
    // A sampler set in code wins.
    let exp = InMemoryExporter::new();
    let t = Telemetry::builder()
        .service("s", "1")
        .hash_key(KeyId(1), KEY)
        .env(env(&[("OTEL_TRACES_SAMPLER", "always_off")]))
        .sampler(Sampler::always())
        .exporter(exp.clone())
        .build()
        .unwrap();
    drop(t.span("op", Category::PERFORMANCE));
    t.force_flush().unwrap();
    assert_eq!(exp.spans().len(), 1);
    // Bad values are build errors that name the variable.
    for (pairs, needle) in [
        (
            vec![("OTEL_TRACES_SAMPLER", "jaeger_remote")],
            "OTEL_TRACES_SAMPLER is `jaeger_remote`",
        ),
        (
            vec![
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ],
            "OTEL_TRACES_SAMPLER_ARG is `1.5`",
        ),
        (
            vec![("OTEL_METRIC_EXPORT_INTERVAL", "soon")],
            "OTEL_METRIC_EXPORT_INTERVAL is `soon`",
        ),
        (
            vec![("OTEL_METRIC_EXPORT_INTERVAL", "0")],
            "OTEL_METRIC_EXPORT_INTERVAL is `0`",
        ),
    ] {
        let e = Telemetry::builder()
            .service("s", "1")
            .hash_key(KeyId(1), KEY)
            .env(env(&pairs))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
    // A metric interval from the environment: metrics arrive without a flush.
    let exp = InMemoryExporter::new();
    let t = Telemetry::builder()
        .service("s", "1")
        .hash_key(KeyId(1), KEY)
        .env(env(&[("OTEL_METRIC_EXPORT_INTERVAL", "50")]))
        .exporter(exp.clone())
        .build()
        .unwrap();
    t.counter("ticks", Category::PERFORMANCE)
        .build()
        .unwrap()
        .add(1, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while exp.last_metric("ticks").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no metric export within 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
