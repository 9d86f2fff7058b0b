use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business, default = secret)]
struct E {
    a: u64,
}

fn main() {}
