use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = marketing)]
struct E {
    #[telemetry(public)]
    a: u64,
}

fn main() {}
