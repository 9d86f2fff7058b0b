use telemetry_core::instrument_event;

trait T {
    #[instrument_event]
    fn f(&self);
}

fn main() {}
