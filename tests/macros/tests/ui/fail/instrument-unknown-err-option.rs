use telemetry_core::instrument_event;

#[instrument_event(err(stack))]
fn f() -> Result<(), String> {
    Ok(())
}

fn main() {}
