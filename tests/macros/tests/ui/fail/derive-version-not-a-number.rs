use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business, version = "2")]
struct E {
    #[telemetry(public)]
    a: u64,
}

fn main() {}
