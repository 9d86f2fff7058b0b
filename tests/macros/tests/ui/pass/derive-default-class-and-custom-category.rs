use telemetry_core::TelemetryEvent;

const FRAUD: telemetry_core::Category = telemetry_core::Category::custom(3);

#[derive(TelemetryEvent)]
#[telemetry(name = "fraud.flagged", category = FRAUD, default = skip)]
struct Flagged {
    #[telemetry(public)]
    score: f64,
    _internal: Vec<u8>,
}

#[derive(TelemetryEvent)]
#[telemetry(category = crate::FRAUD)]
struct Unit;

fn main() {
    let s = <Flagged as telemetry_core::TelemetryEvent>::SCHEMA;
    assert_eq!(s.category, FRAUD);
    assert_eq!(s.fields[1].class, telemetry_core::FieldClass::Dropped);
    assert!(<Unit as telemetry_core::TelemetryEvent>::SCHEMA.fields.is_empty());
}
