use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(redact, label)]
    card: String,
}

fn main() {}
