use telemetry_core::TelemetryValue;

#[derive(TelemetryValue)]
struct Pair(u64, u64);

#[derive(TelemetryValue)]
struct Nothing;

#[derive(TelemetryValue)]
enum Shape {
    Dot,
    Circle { radius: f64 },
}

fn main() {}
