use telemetry_core::instrument_event;

#[instrument_event(name = "a", name = "b")]
fn f() {}

fn main() {}
