use telemetry_core::instrument_event;

#[instrument_event]
const fn f() -> u8 {
    1
}

fn main() {}
