//! Default names in snake case (acronyms kept together), raw identifiers
//! exported without `r#`, and a redacted field whose type has no
//! `TelemetryValue` (its value is never read).
use telemetry_core::TelemetryEvent;

struct Card;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct HTTPRequestDone {
    #[telemetry(public)]
    r#type: u64,
    #[telemetry(redact)]
    card: Card,
}

fn main() {
    let e = HTTPRequestDone { r#type: 1, card: Card };
    let _ = &e.card;
    let s = <HTTPRequestDone as TelemetryEvent>::SCHEMA;
    assert_eq!(s.name, "http_request_done");
    assert_eq!(s.fields[0].name, "type");
    assert_eq!(s.fields[1].name, "card");
}
