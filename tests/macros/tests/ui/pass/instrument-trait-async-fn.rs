use telemetry_core::instrument_event;

trait Repo {
    async fn load(&self, id: u64) -> Option<u64>;

    #[instrument_event(name = "repo.count")]
    async fn count(&self) -> usize {
        0
    }
}

struct Memory;

impl Repo for Memory {
    #[instrument_event(name = "repo.load", fields(id))]
    async fn load(&self, id: u64) -> Option<u64> {
        Some(id)
    }
}

fn main() {
    let _ = Memory.load(1);
    let _ = Memory.count();
}
