//! The server middleware (feature `server`): a tower layer that puts every
//! request in its telemetry context and measures it.
//!
//! For each request it
//! - asks the service's [`identify`](ServerLayer::identify) hook who is
//!   calling: the subject (a user the credential names) and whether the
//!   caller is one of the deployment's own services;
//! - loads the subject's consent choices first if a shared consent store
//!   has not cached them (waiting at most
//!   [`prefetch_wait`](ServerLayer::prefetch_wait), on a blocking thread),
//!   so the request's own records are not refused as unconfirmed;
//! - continues the caller's trace and applies the consent it passed on
//!   only for a trusted caller; anyone else's W3C headers are ignored
//!   ([`Incoming::untrusted`](telemetry_core::propagation::Incoming::untrusted));
//! - wraps the handler in a server span named `{method} {route}` after the
//!   route template axum matched (`GET /items/{id}`; `{method}` alone when
//!   none matched), never the path, which can hold ids;
//! - records `http.server.request.duration` (seconds) with
//!   `http.request.method`, `http.route`, `http.response.status_code` and,
//!   for a 5xx, `error.type`.
//!
//! Apply it with axum's `Router::layer` (after routing, so it sees the
//! matched route):
//!
//! ```
//! use axum::{Router, routing::get};
//! use telemetry_core::Telemetry;
//! use telemetry_http::server::{Identity, ServerLayer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder().service("shop", "1.0").build()?;
//! let app: Router = Router::new()
//!     .route("/items/{id}", get(|| async { "item" }))
//!     .layer(ServerLayer::new(&telemetry).identify(|parts| {
//!         // Your authentication: the user a valid session names.
//!         let user = parts.headers.get("x-demo-user").and_then(|v| v.to_str().ok());
//!         Identity::user(user.map(str::to_owned))
//!     }));
//! # let _ = app; Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use http::request::Parts;
use http::{Request, Response};
use telemetry_core::Histogram;
use telemetry_core::{Category, Context, SpanKind, Telemetry, Value};
use tower::{Layer, Service};

use crate::HeaderPropagation;
use crate::conventions::{DURATION_BOUNDS, method_name, span_name};

/// Who sent a request, as the service's authentication tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The data subject the request acts for (a user id), if any.
    pub subject: Option<String>,
    /// Whether the caller is one of the deployment's own services, whose
    /// W3C headers (trace and consent) are believed.
    pub trusted: bool,
}

impl Identity {
    /// An unauthenticated caller: no subject, headers ignored.
    pub fn anonymous() -> Self {
        Identity::default()
    }

    /// An end user (or no one, for `None`): headers ignored.
    pub fn user(subject: Option<String>) -> Self {
        Identity {
            subject,
            trusted: false,
        }
    }

    /// One of the deployment's own services, acting for `subject`:
    /// its trace and consent headers are believed.
    pub fn peer(subject: Option<String>) -> Self {
        Identity {
            subject,
            trusted: true,
        }
    }
}

type IdentifyFn = dyn Fn(&mut Parts) -> Identity + Send + Sync;

/// The tower layer (see the [module](self)).
#[derive(Clone)]
pub struct ServerLayer {
    telemetry: Telemetry,
    identify: Arc<IdentifyFn>,
    prefetch_wait: Duration,
    duration: Option<Histogram>,
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer")
            .field("prefetch_wait", &self.prefetch_wait)
            .finish_non_exhaustive()
    }
}

impl ServerLayer {
    /// A layer recording into `telemetry`. Until [`identify`](Self::identify)
    /// is set, every caller is [anonymous](Identity::anonymous).
    pub fn new(telemetry: &Telemetry) -> Self {
        let duration = telemetry
            .histogram("http.server.request.duration", Category::PERFORMANCE)
            .unit("s")
            .description("Duration of HTTP server requests.")
            .boundaries(DURATION_BOUNDS.to_vec())
            .attribute("http.request.method")
            .attribute("http.route")
            .attribute("http.response.status_code")
            .attribute("error.type")
            .build()
            .ok();
        ServerLayer {
            telemetry: telemetry.clone(),
            identify: Arc::new(|_| Identity::anonymous()),
            prefetch_wait: Duration::from_millis(250),
            duration,
        }
    }

    /// The hook that tells who sent a request. It may also leave what it
    /// found in the request's extensions for the handlers (checking a
    /// credential once).
    pub fn identify(
        mut self,
        identify: impl Fn(&mut Parts) -> Identity + Send + Sync + 'static,
    ) -> Self {
        self.identify = Arc::new(identify);
        self
    }

    /// How long a request waits for its subject's consent choices to load
    /// from a shared store (default 250 ms). Past it, the request runs
    /// fail-closed: consent-requiring data of it is refused.
    pub fn prefetch_wait(mut self, wait: Duration) -> Self {
        self.prefetch_wait = wait;
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ServerLayer`] wraps around a handler.
#[derive(Clone, Debug)]
pub struct ServerService<S> {
    inner: S,
    layer: ServerLayer,
}

impl<S, B, R> Service<Request<B>> for ServerService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let layer = &self.layer;
        let t = &layer.telemetry;
        let (mut parts, body) = request.into_parts();
        let identity = (layer.identify)(&mut parts);
        let scope = match &identity.subject {
            Some(subject) => t.subject_context(subject),
            // No subject, whatever ran on this thread before.
            None => Context::empty(),
        };
        // A subject a shared store has not cached is loaded before the
        // handler runs (never blocking a runtime thread).
        let prefetch = identity
            .subject
            .filter(|subject| !t.consent().prefetch(subject))
            .map(|subject| (t.clone(), subject, layer.prefetch_wait));
        let incoming = t.extract_headers(&parts.headers);
        let incoming = if identity.trusted {
            incoming
        } else {
            incoming.untrusted()
        };
        let ctx = incoming.apply(scope);
        let method = method_name(&parts.method);
        let route = parts.extensions.get::<MatchedPath>().cloned();
        let route_text = route.as_ref().map(|r| r.as_str().to_owned());
        let mut span = {
            let _in = ctx.clone().attach();
            // The name is formatted only for a recorded span.
            t.span_with(Category::PERFORMANCE, || {
                span_name(method, route_text.as_deref()).into()
            })
        };
        span.set_kind(SpanKind::Server);
        span.set_attribute("http.request.method", method);
        if let Some(route) = &route_text {
            span.set_attribute("http.route", route.clone());
        }
        let ctx = match span.context() {
            Some(c) => ctx.with_span_context(c),
            None => ctx,
        };
        let request = Request::from_parts(parts, body);
        // Take the service that was driven to readiness.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = ctx.wrap(inner.call(request));
        let duration = layer.duration.clone();
        Box::pin(async move {
            if let Some((t, subject, wait)) = prefetch {
                // On failure the request runs fail-closed (counted as
                // `unconfirmed` drops): the service still answers.
                let _ = tokio::task::spawn_blocking(move || {
                    t.consent().prefetch_within(&subject, wait)
                })
                .await;
            }
            let response = future.await?;
            let status = response.status();
            span.set_attribute("http.response.status_code", u64::from(status.as_u16()));
            let error_type = status.is_server_error().then(|| status.as_str().to_owned());
            if let Some(error) = &error_type {
                span.set_error_description(error.clone());
            }
            if let Some(histogram) = duration {
                let route = route_text.as_deref().unwrap_or("");
                let attrs = [
                    ("http.request.method", Value::Str(method)),
                    ("http.route", Value::Str(route)),
                    (
                        "http.response.status_code",
                        Value::U64(u64::from(status.as_u16())),
                    ),
                    (
                        "error.type",
                        Value::Str(error_type.as_deref().unwrap_or("")),
                    ),
                ];
                histogram.record(started.elapsed().as_secs_f64(), &attrs);
            }
            Ok(response)
        })
    }
}
