use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(hashed_value)]
    email: String,
    #[telemetry(pubic)]
    total: u64,
}

fn main() {}
