use telemetry_core::TelemetryEvent;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E<'a> {
    #[telemetry(subject)]
    user: &'a str,
    #[telemetry(subject)]
    account: &'a str,
}

fn main() {}
