use telemetry_core::instrument_event;

struct Document;

#[instrument_event(name = "docs")]
impl Document {
    #[instrument_event]
    fn get(&self) {}
}

struct Folder;

#[instrument_event]
impl Folder {
    fn get(&self) {}
}

trait Named {
    fn name(&self);
}

#[instrument_event]
impl Named for (u8, u8) {
    #[instrument_event]
    fn name(&self) {}
}

fn main() {}
