//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::time::Duration;

use telemetry_core::event::*;
use telemetry_core::export::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;

pub const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A builder with an empty environment (so DO_NOT_TRACK on the test machine
/// cannot change results), a hash key, and a long flush interval so records
/// stay buffered until a flush.
pub fn builder() -> TelemetryBuilder {
    Telemetry::builder()
        .service("test-service", "1.2.3")
        .env(Environment::from_pairs::<&str, &str>([]))
        .hash_key(KeyId(1), KEY)
        .flush_interval(Duration::from_secs(3600))
        .metric_interval(Duration::from_secs(3600))
}

/// Opt-in for business and interaction, the rest exempt.
pub fn policy() -> ConsentPolicy {
    ConsentPolicy::opt_in()
        .require(Category::BUSINESS)
        .require(Category::INTERACTION)
        .exempt(Category::PERFORMANCE)
        .exempt(Category::ERRORS)
        .exempt(Category::RESOURCE)
}

pub fn setup() -> (Telemetry, InMemoryExporter) {
    let exporter = InMemoryExporter::new();
    let t = builder()
        .consent(policy())
        .exporter(exporter.clone())
        .build()
        .unwrap();
    (t, exporter)
}

/// A purchase with one field of every class.
pub struct Purchase<'a> {
    pub customer: Option<&'a str>,
    pub email: &'a str,
    pub amount_cents: u64,
    pub currency: &'a str,
    pub card_last4: &'a str,
    pub note: &'a str,
}

impl TelemetryEvent for Purchase<'_> {
    const SCHEMA: &'static EventSchema = &EventSchema {
        name: "checkout.purchase_completed",
        category: Category::BUSINESS,
        version: 2,
        description: "A customer completed a purchase.",
        fields: &[
            FieldSchema {
                name: "email",
                ty: FieldType::String,
                class: FieldClass::Hashed,
            },
            FieldSchema {
                name: "amount_cents",
                ty: FieldType::UInt,
                class: FieldClass::Public,
            },
            FieldSchema {
                name: "currency",
                ty: FieldType::String,
                class: FieldClass::Public,
            },
            FieldSchema {
                name: "card_last4",
                ty: FieldType::String,
                class: FieldClass::Redacted,
            },
            FieldSchema {
                name: "note",
                ty: FieldType::String,
                class: FieldClass::Dropped,
            },
        ],
    };

    fn subject(&self) -> Option<&str> {
        self.customer
    }

    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field(0, self.email.to_value());
        v.field(1, self.amount_cents.to_value());
        v.field(2, self.currency.to_value());
        v.field(3, self.card_last4.to_value());
        v.field(4, self.note.to_value());
    }
}

pub fn purchase<'a>(email: &'a str) -> Purchase<'a> {
    Purchase {
        customer: None,
        email,
        amount_cents: 1299,
        currency: "EUR",
        card_last4: "4242",
        note: "gift wrap please",
    }
}

/// The log records `exp` received, without the library's own (audit
/// entries, deletion requests).
pub fn data_logs(exp: &InMemoryExporter) -> Vec<LogRecord> {
    exp.logs()
        .into_iter()
        .filter(|l| l.category != Category::TELEMETRY)
        .collect()
}

/// A field value the test can find in the output.
pub fn attr<'a>(rec: &'a LogRecord, key: &str) -> Option<&'a AttrValue> {
    rec.attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| &a.value)
}

pub fn span_attr<'a>(rec: &'a SpanRecord, key: &str) -> Option<&'a AttrValue> {
    rec.attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| &a.value)
}
