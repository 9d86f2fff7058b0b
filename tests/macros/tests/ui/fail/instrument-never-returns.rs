use telemetry_core::instrument_event;

#[instrument_event]
fn serve_forever() -> ! {
    loop {}
}

fn main() {}
