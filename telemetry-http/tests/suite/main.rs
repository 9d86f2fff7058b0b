//! `telemetry-http`'s integration tests, in one test binary (one link
//! step): outgoing calls, and the server middleware in a real axum server.

mod client;
#[cfg(feature = "server")]
mod server;
