use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(subject)]
    user_id: u64,
}

fn main() {}
