//! W3C `traceparent`.

use telemetry_core::trace::{SpanContext, SpanId, TraceId};

use crate::input::Bytes;

/// Parses `data` as a `traceparent` header, and checks that:
///
/// - what parses re-formats (`to_traceparent`, version 00) to a header that
///   parses to the same context, and to the input itself when the input is
///   a version-00 header with flags `00` or `01`;
/// - formatting any valid context (ids drawn from `data`) and parsing it
///   back gives the same context.
pub fn traceparent(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(ctx) = SpanContext::from_traceparent(&text) {
        let formatted = ctx.to_traceparent();
        assert!(
            formatted.len() == 55 && formatted.starts_with("00-"),
            "{text:?} formats as {formatted:?}"
        );
        assert_eq!(
            SpanContext::from_traceparent(&formatted),
            Ok(ctx),
            "{text:?} -> {formatted:?} does not parse back"
        );
        let trimmed = text.trim();
        if trimmed.starts_with("00-") && (trimmed.ends_with("-00") || trimmed.ends_with("-01")) {
            assert_eq!(formatted, trimmed, "a version-00 header changes");
        }
    }

    let mut bytes = Bytes::new(data);
    let ctx = SpanContext {
        trace_id: TraceId(bytes.u128().max(1)),
        span_id: SpanId(bytes.u64().max(1)),
        sampled: bytes.bool(),
        probability: 1.0,
        remote: true,
    };
    let formatted = ctx.to_traceparent();
    assert_eq!(
        SpanContext::from_traceparent(&formatted),
        Ok(ctx),
        "{formatted:?}"
    );
}
