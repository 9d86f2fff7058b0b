use telemetry_core::instrument_event;

struct S;

impl S {
    #[instrument_event(fields(self))]
    fn f(&self) {}
}

fn main() {}
