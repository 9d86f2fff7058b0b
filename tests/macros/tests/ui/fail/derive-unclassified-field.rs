use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(public)]
    a: u64,
    email: String,
}

fn main() {}
