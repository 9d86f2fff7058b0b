use telemetry_core::instrument_event;

#[instrument_event(level = "info")]
fn f() {}

fn main() {}
