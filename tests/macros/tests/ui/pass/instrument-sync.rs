use telemetry_core::instrument_event;

#[derive(Debug)]
struct NotFound;

#[instrument_event(name = "store.find", category = performance, fields(id, owner = hash), err, ret)]
fn find(id: u64, owner: &str) -> Result<u64, NotFound> {
    if id == 0 {
        return Err(NotFound);
    }
    let parsed: u64 = "7".parse().map_err(|_| NotFound)?;
    let _ = owner;
    Ok(id + parsed)
}

#[instrument_event]
fn nothing() {}

#[instrument_event(category = errors, fields(x = redact))]
fn redacts(x: &str) -> usize {
    x.len()
}

fn main() {
    assert_eq!(find(1, "o").unwrap(), 8);
    assert!(find(0, "o").is_err());
    nothing();
    assert_eq!(redacts("abc"), 3);
}
