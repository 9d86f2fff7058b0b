use telemetry_core::instrument_event;

#[instrument_event(catgory = business)]
fn f() {}

fn main() {}
