use telemetry_core::instrument_event;

use std::sync::Arc;

struct Service {
    hits: u64,
}

impl Service {
    #[instrument_event(fields(n))]
    fn by_ref(&self, n: u64) -> u64 {
        self.hits + n
    }

    #[instrument_event]
    fn by_mut(&mut self) {
        self.hits += 1;
    }

    #[instrument_event]
    fn by_value(self) -> u64 {
        self.hits
    }

    #[instrument_event]
    fn by_arc(self: Arc<Self>) -> u64 {
        self.hits
    }

    #[instrument_event]
    async fn async_ref(&self) -> u64 {
        self.hits
    }

    #[instrument_event]
    fn returns_self(hits: u64) -> Self {
        Self { hits }
    }
}

fn main() {
    let mut s = Service::returns_self(1);
    s.by_mut();
    assert_eq!(s.by_ref(1), 3);
    let _ = s.async_ref();
    assert_eq!(Arc::new(Service { hits: 5 }).by_arc(), 5);
    assert_eq!(s.by_value(), 2);
}
