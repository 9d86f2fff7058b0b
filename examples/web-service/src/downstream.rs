//! Calls to the next service: the request carries the trace (`traceparent`,
//! `tracestate`) and the caller's consent (`baggage`), inside a client span.
//!
//! The end user's own credential is never passed on. The service presents
//! its service token and names the user it calls for in
//! [`SUBJECT_USER_HEADER`], which the next service believes only because
//! the service token came with it. (The demo talks plain HTTP on one host;
//! between hosts, put TLS under it so that the service token stays secret.)

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use telemetry_core::Telemetry;
use telemetry_http::client::HttpClientTelemetry;

use crate::auth::SUBJECT_USER_HEADER;
use crate::secrets::ServiceToken;

/// An HTTP client for one downstream service.
#[derive(Clone)]
pub struct Downstream {
    base: String,
    /// The server's host and port, for the call telemetry.
    host: String,
    port: u16,
    /// `Bearer <service token>`, marked sensitive.
    credential: HeaderValue,
    client: Client<HttpConnector, Full<Bytes>>,
    calls: HttpClientTelemetry,
}

/// By hand: the credential never shows.
impl std::fmt::Debug for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downstream")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
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
    /// A client for the service at `base` (`http://host:port`) that
    /// authenticates with `token`; its calls are measured in `telemetry`.
    pub fn new(
        base: impl Into<String>,
        token: &ServiceToken,
        telemetry: &Telemetry,
    ) -> Result<Self, DownstreamError> {
        let mut credential = HeaderValue::try_from(format!("Bearer {}", token.as_str()))
            .map_err(|_| DownstreamError("the service token is not a valid header value".into()))?;
        credential.set_sensitive(true);
        let base = base.into().trim_end_matches('/').to_owned();
        let uri: http::Uri = base.parse().map_err(|_| {
            DownstreamError(format!(
                "{base:?} is not a URL; give the downstream service as http://host:port"
            ))
        })?;
        let host = uri.host().unwrap_or("localhost").to_owned();
        let port = uri.port_u16().unwrap_or(80);
        Ok(Downstream {
            base,
            host,
            port,
            credential,
            client: Client::builder(TokioExecutor::new()).build_http(),
            calls: HttpClientTelemetry::new(telemetry),
        })
    }

    /// `POST path` with a JSON body, as this service, for the user
    /// `on_behalf_of`. `path` is a fixed route (no ids in it): it names the
    /// client span. Returns the status and the body.
    pub async fn post(
        &self,
        path: &'static str,
        on_behalf_of: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), DownstreamError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| DownstreamError(e.to_string()))?;
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.credential.clone());
        if let Some(user) = on_behalf_of {
            let user = HeaderValue::from_str(user)
                .map_err(|_| DownstreamError("the user name is not a valid header value".into()))?;
            headers.insert(SUBJECT_USER_HEADER, user);
        }
        // A client span, the trace and the user's consent in the headers.
        let call = self.calls.start(
            &Method::POST,
            path,
            &self.host,
            self.port,
            request.headers_mut(),
        );
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
            Ok((status, _)) => call.finish(*status),
            Err(_) => call.fail("request_failed"),
        }
        result
    }
}
