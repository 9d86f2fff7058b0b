use telemetry_core::instrument_event;

#[instrument_event(err(message))]
fn f() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
