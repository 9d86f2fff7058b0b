use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(public, rename = "amount")]
    total: u64,
    #[telemetry(public)]
    amount: u64,
}

fn main() {}
