use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(name = "e")]
struct E {
    #[telemetry(public)]
    a: u64,
}

fn main() {}
