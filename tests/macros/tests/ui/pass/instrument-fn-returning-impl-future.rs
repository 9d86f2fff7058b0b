use telemetry_core::instrument_event;

use std::future::Future;

#[instrument_event(name = "fetch", fields(id), err)]
fn fetch(id: u64) -> impl Future<Output = Result<u64, String>> + Send {
    async move { if id == 0 { Err("zero".to_owned()) } else { Ok(id) } }
}

#[instrument_event]
fn borrowed<'a>(s: &'a str) -> impl Future<Output = usize> + 'a {
    async move { s.len() }
}

fn main() {
    let _ = fetch(1);
    let _ = borrowed("x");
}
