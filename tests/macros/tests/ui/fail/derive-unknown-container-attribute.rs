use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business, nmae = "x")]
struct E {
    #[telemetry(public)]
    a: u64,
}

fn main() {}
