use telemetry_core::instrument_event;

#[instrument_event(fields(n, n = hash))]
fn f(n: u64) -> u64 {
    n
}

fn main() {}
