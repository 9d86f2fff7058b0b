use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(name = "a", name = "b", category = business)]
struct E {
    #[telemetry(public)]
    a: u64,
}

fn main() {}
