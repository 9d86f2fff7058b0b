//! Names from OpenTelemetry's HTTP conventions, shared by the server
//! middleware and the client calls.

use http::Method;

/// The methods OpenTelemetry's HTTP conventions know by name.
const KNOWN_METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// The method as recorded: a known method, or `_OTHER` (a client chooses
/// the method, so its text is not recorded as is).
pub fn method_name(method: &Method) -> &'static str {
    KNOWN_METHODS
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("_OTHER")
}

/// `{method} {route}`, or `{method}` for a request that matched no route
/// (`HTTP` standing for a method that is not known).
pub fn span_name(method: &'static str, route: Option<&str>) -> String {
    let method = if method == "_OTHER" { "HTTP" } else { method };
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    }
}

/// OpenTelemetry's default bucket bounds for HTTP durations, in seconds
/// (`http.server.request.duration`, `http.client.request.duration`).
pub const DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_follow_the_http_conventions() {
        assert_eq!(
            span_name(method_name(&Method::POST), Some("/consent/{category}")),
            "POST /consent/{category}"
        );
        assert_eq!(span_name(method_name(&Method::GET), None), "GET");
        let custom = Method::from_bytes(b"PURGE").unwrap_or(Method::GET);
        assert_eq!(method_name(&custom), "_OTHER");
        assert_eq!(span_name(method_name(&custom), None), "HTTP");
    }
}
