use telemetry_core::TelemetryEvent;

struct Session {
    _started: f64,
}

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(subject)]
    session: Session,
}

fn main() {}
