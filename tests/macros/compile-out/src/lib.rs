//! Instrumented functions in a library built without `instrument`.

use telemetry_core::instrument_event;

/// Recorded only when the application enables `instrument`.
#[instrument_event(name = "lib.work", fields(customer = hash, n), err)]
pub fn work(customer: &str, n: u32) -> Result<u32, std::fmt::Error> {
    let _ = customer;
    Ok(n)
}

/// A type with an instrumented method.
pub struct Doc;

#[instrument_event]
impl Doc {
    /// Recorded only when the application enables `instrument`.
    #[instrument_event]
    pub fn get(&self) -> u32 {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_out() {
        // An installed instance would record; nothing here is instrumented.
        let t = telemetry_core::Telemetry::builder()
            .service("compile-out", "1")
            .install()
            .unwrap();
        assert_eq!(work("a", 2), Ok(2));
        assert_eq!(Doc.get(), 1);
        let catalogue = telemetry_core::catalogue::Catalogue::collect();
        assert!(catalogue.items().is_empty(), "{:?}", catalogue.items());
        t.force_flush().unwrap();
        assert_eq!(t.stats().exported, 0);
    }
}
