use telemetry_core::instrument_event;

#[instrument_event(fields(n))]
unsafe fn read_at(p: *const u8, n: usize) -> u8 {
    // SAFETY: the caller passes a valid pointer to at least n+1 bytes.
    unsafe { *p.add(n) }
}

fn main() {
    let data = [1u8, 2, 3];
    // SAFETY: index 2 is in bounds.
    assert_eq!(unsafe { read_at(data.as_ptr(), 2) }, 3);
}
