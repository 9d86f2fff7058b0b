use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(public, hash)]
    a: u64,
}

fn main() {}
