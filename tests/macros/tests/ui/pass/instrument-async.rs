use telemetry_core::instrument_event;

#[instrument_event(name = "io.read", fields(n), err(message = hash))]
async fn read(n: usize) -> Result<Vec<u8>, std::io::Error> {
    if n > 10 {
        return Err(std::io::Error::other("too big"));
    }
    Ok(vec![0; n])
}

#[instrument_event]
async fn unit() {}

#[instrument_event(ret)]
async fn answer() -> u32 {
    42
}

fn main() {
    let _ = read(3);
    let _ = unit();
    let _ = answer();
}
