use telemetry_core::instrument_event;

#[instrument_event(name = 42)]
fn f() {}

fn main() {}
