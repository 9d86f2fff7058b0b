//! Calls to the next service: the request carries the trace (`traceparent`,
//! `tracestate`) and the caller's consent (`baggage`), inside a client span.

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use telemetry_core::{Category, SpanKind, Telemetry};

/// An HTTP client for one downstream service.
#[derive(Clone)]
pub struct Downstream {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What went wrong calling downstream.
#[derive(Debug)]
pub struct DownstreamError(pub String);

impl std::fmt::Display for DownstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "downstream call failed: {}", self.0)
    }
}

impl std::error::Error for DownstreamError {}

impl Downstream {
    /// A client for the service at `base` (`http://host:port`).
    pub fn new(base: impl Into<String>) -> Self {
        Downstream {
            base: base.into().trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `POST path` with a JSON body, on behalf of the user of `credential`
    /// (forwarded as is). Returns the status and the body.
    pub async fn post(
        &self,
        telemetry: &Telemetry,
        path: &str,
        credential: Option<&HeaderValue>,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), DownstreamError> {
        let mut span = telemetry.span_with(Category::PERFORMANCE, || format!("POST {path}").into());
        span.set_kind(SpanKind::Client);
        span.set_attribute("server.address", self.base.as_str());
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| DownstreamError(e.to_string()))?;
        if let Some(c) = credential {
            request.headers_mut().insert(AUTHORIZATION, c.clone());
        }
        {
            // The client span is the remote parent of the downstream's span.
            let _entered = span.enter();
            telemetry.inject(request.headers_mut());
        }
        let result = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| DownstreamError(e.to_string()))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| DownstreamError(e.to_string()))?
                .to_bytes();
            let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            Ok((status, json))
        }
        .await;
        match &result {
            Ok((status, _)) => {
                span.set_attribute("http.response.status_code", u64::from(*status));
                if *status >= 500 {
                    span.set_error_description(format!("HTTP {status}"));
                }
            }
            Err(e) => span.set_error(e),
        }
        result
    }
}
