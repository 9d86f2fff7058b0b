//! The tower middleware that puts every request in its telemetry context:
//! the authenticated user's subject scope, the trace (and upstream consent)
//! from the incoming headers, and a server span around the handler.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use axum::extract::Request;
use axum::response::Response;
use telemetry_core::{Category, Context, SpanKind, Telemetry};
use tower::{Layer, Service};

use crate::auth;

/// Adds [`TelemetryService`] around a service.
#[derive(Clone)]
pub struct TelemetryLayer {
    telemetry: Telemetry,
}

impl TelemetryLayer {
    /// A layer recording into `telemetry`.
    pub fn new(telemetry: Telemetry) -> Self {
        TelemetryLayer { telemetry }
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            telemetry: self.telemetry.clone(),
        }
    }
}

/// Runs each request in its subject scope and trace, inside a server span.
#[derive(Clone)]
pub struct TelemetryService<S> {
    inner: S,
    telemetry: Telemetry,
}

impl<S> Service<Request> for TelemetryService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let t = &self.telemetry;
        // The subject comes from the credential; the trace and the upstream
        // consent from the W3C headers (bad ones are ignored and counted).
        let scope = match auth::user_of(request.headers()) {
            Some(user) => t.subject_context(user),
            // Unauthenticated: no subject, whatever ran on this thread before.
            None => Context::empty(),
        };
        let ctx = t.extract(request.headers()).apply(scope);
        let mut span = {
            let _in = ctx.clone().attach();
            // The name is formatted only for a recorded span.
            t.span_with(Category::PERFORMANCE, || {
                format!("{} {}", request.method(), request.uri().path()).into()
            })
        };
        span.set_kind(SpanKind::Server);
        span.set_attribute("http.request.method", request.method().as_str());
        span.set_attribute("url.path", request.uri().path());
        let ctx = match span.context() {
            Some(c) => ctx.with_span_context(c),
            None => ctx,
        };
        // Take the service that was driven to readiness.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = ctx.wrap(inner.call(request));
        Box::pin(async move {
            let response = future.await?;
            let status = response.status();
            span.set_attribute("http.response.status_code", u64::from(status.as_u16()));
            if status.is_server_error() {
                span.set_error_description(status.to_string());
            }
            Ok(response)
        })
    }
}
