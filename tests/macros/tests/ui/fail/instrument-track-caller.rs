use telemetry_core::instrument_event;

#[instrument_event]
#[track_caller]
fn located() -> u32 {
    std::panic::Location::caller().line()
}

fn main() {}
