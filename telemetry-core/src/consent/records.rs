//! The control records a consent change exports: audit entries and
//! deletion requests (category `telemetry`, always sent, never sampled).

use std::borrow::Cow;
use std::time::SystemTime;

use crate::category::Category;
use crate::consent::DELETION_REQUEST_EVENT;
use crate::export::{Attribute, LogRecord, Severity};
use crate::subject::SubjectKey;
use crate::value::AttrValue;

/// A deletion request for `subject`'s data in `categories` (names joined
/// by commas), made by `source` at `time`.
pub(crate) fn deletion_record(
    subject: SubjectKey,
    categories: &str,
    source: &str,
    time: SystemTime,
) -> LogRecord {
    let attributes = vec![
        Attribute::new(
            "telemetry.deletion.categories",
            AttrValue::from(categories.to_owned()),
        ),
        Attribute::new("telemetry.deletion.reason", "consent_revoked"),
        Attribute::new(
            "telemetry.consent.source",
            AttrValue::from(source.to_owned()),
        ),
    ];
    control_record(DELETION_REQUEST_EVENT, subject, attributes, time)
}

pub(crate) fn control_record(
    name: &'static str,
    subject: SubjectKey,
    attributes: Vec<Attribute>,
    time: SystemTime,
) -> LogRecord {
    LogRecord {
        time,
        event_name: Cow::Borrowed(name),
        category: Category::TELEMETRY,
        severity: Severity::Info,
        body: None,
        schema_version: 1,
        attributes: attributes.into(),
        dropped_attributes: 0,
        trace: None,
        probability: 1.0,
        subject: Some(subject),
        key_id: None,
    }
}
