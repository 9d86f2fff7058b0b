use telemetry_core::instrument_event;

#[instrument_event(category = marketing)]
fn f() {}

fn main() {}
