//! Database calls made on a caller's thread, safe from async code.
//!
//! The synchronous `postgres` client drives a small tokio runtime of its
//! own, and tokio panics when a runtime is driven from a thread that is
//! already running one: an `async fn main`, an axum handler, anything
//! inside `#[tokio::main]`. The store's own threads (feed, loader) never
//! are; a caller's thread may be. So every call that touches a client on a
//! caller's thread — connecting, committing, loading, waiting for the
//! replicas, and dropping a connection — runs through [`off_runtime`],
//! which moves it to a short-lived thread of its own when the caller is
//! inside a runtime. Blocking is still blocking (call consent changes
//! from `spawn_blocking` in async code), but never a panic.

use telemetry_core::ConsentError;

/// Runs `f` here, or on a thread of its own when this thread is inside a
/// tokio runtime.
pub(crate) fn off_runtime<T: Send>(
    f: impl FnOnce() -> Result<T, ConsentError> + Send,
) -> Result<T, ConsentError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| {
        let call = std::thread::Builder::new()
            .name("consent-pg-call".into())
            .spawn_scoped(scope, f)
            .map_err(|e| {
                ConsentError::new(format!("cannot start a thread for a database call: {e}"))
            })?;
        call.join().unwrap_or_else(|_| {
            Err(ConsentError::new(
                "a database call failed unexpectedly (the PostgreSQL client panicked)",
            ))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_runtime() -> bool {
        tokio::runtime::Handle::try_current().is_ok()
    }

    #[test]
    fn outside_a_runtime_the_call_runs_here() {
        let here = std::thread::current().id();
        let ran_on = off_runtime(|| Ok(std::thread::current().id())).unwrap();
        assert_eq!(ran_on, here);
    }

    #[test]
    fn inside_a_runtime_the_call_runs_where_it_may_block_on_another() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(in_runtime());
            let (inside, nested) = off_runtime(|| {
                // What the postgres client does: drive a runtime of its own.
                let own = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| ConsentError::new(e.to_string()))?;
                Ok((in_runtime(), own.block_on(async { 7 })))
            })
            .unwrap();
            assert!(!inside);
            assert_eq!(nested, 7);
        });
    }

    #[test]
    fn a_panicking_call_is_an_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let e = rt
            .block_on(async { off_runtime::<()>(|| panic!("client bug")) })
            .unwrap_err();
        assert!(e.to_string().contains("unexpectedly"), "{e}");
    }
}
