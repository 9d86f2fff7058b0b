use telemetry_core::instrument_event;

#[instrument_event(err(backtrace))]
fn f() -> Result<(), String> {
    Ok(())
}

fn main() {}
