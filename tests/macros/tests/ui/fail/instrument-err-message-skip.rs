use telemetry_core::instrument_event;

#[instrument_event(err(message = skip))]
fn f() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
