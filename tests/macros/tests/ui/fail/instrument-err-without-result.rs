use telemetry_core::instrument_event;

#[instrument_event(err)]
fn f() -> u64 {
    1
}

fn main() {}
