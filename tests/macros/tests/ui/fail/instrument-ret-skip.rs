use telemetry_core::instrument_event;

#[instrument_event(ret = skip)]
fn f() -> u64 {
    1
}

fn main() {}
