use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(public, rename = "x", rename = "y")]
    a: u64,
}

fn main() {}
