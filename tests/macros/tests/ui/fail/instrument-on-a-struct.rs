use telemetry_core::instrument_event;

#[instrument_event]
struct S;

fn main() {}
