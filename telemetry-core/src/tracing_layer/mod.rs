//! `tracing` integration (feature `tracing`): the service's existing
//! `tracing` spans and events, and those of its libraries, go through the
//! same consent check, sampler, privacy rules and exporters as everything
//! else.
//!
//! ```
//! use telemetry_core::tracing_layer::TracingLayer;
//! use telemetry_core::{Category, FieldClass, Telemetry};
//! use tracing_core::Level;
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder().service("shop", "1.0").build()?;
//! let layer = TracingLayer::builder(&telemetry)
//!     // `shop` and its modules, up to INFO, are business data; their
//!     // errors are errors.
//!     .route("shop", Level::INFO, Category::BUSINESS)
//!     .route("shop", Level::ERROR, Category::ERRORS)
//!     // Everything else up to WARN counts as performance data.
//!     .route("", Level::WARN, Category::PERFORMANCE)
//!     // Structured fields are classified one by one. `message` is left
//!     // out on purpose: it stays redacted (see below).
//!     .field("order_id", FieldClass::Public)
//!     .field("user.email", FieldClass::Hashed)
//!     .build()?;
//! let _default = tracing_subscriber::registry().with(layer).set_default();
//!
//! // The email goes in its own field, where it is hashed; the message is
//! // a constant.
//! tracing::info!(target: "shop", order_id = 7u64, user.email = "ada@example.com", "login");
//! # Ok(()) }
//! ```
//!
//! **Routes.** A route maps a target (a module path prefix, matched on `::`
//! boundaries; `""` matches every target) and a most verbose level to a
//! [`Category`]. The most specific matching target decides; among its
//! routes, the least verbose one that admits the level wins. A span or
//! event no route admits is not collected at all (`tracing` caches that per
//! callsite, so it costs nothing): nothing is collected by accident.
//!
//! **Internals are never collected.** Spans and events of the libraries the
//! exporters use (`hyper`, `h2`, `tonic`, `tower`, `reqwest`, `ureq`,
//! `rustls`, the `opentelemetry` crates) and of this library are ignored
//! whatever the routes say (a route naming one is a build error), and so is
//! everything on a thread inside [`Context::suppress`](crate::Context::suppress),
//! which the pipeline's worker and exports run in.
//!
//! **Consent first.** Before `tracing` builds a span or event for this
//! layer, the layer checks the route's category against the current
//! subject's consent, and a span inside a sampled-out span is dropped
//! there too. A dropped span or event is never built, its fields never
//! formatted; the drop is counted by cause like any other.
//!
//! **Fields** are classified by name ([`TracingLayerBuilder::field`]);
//! every other field gets the default class, [`FieldClass::Redacted`]
//! unless changed: its name is kept, its value is never read. An event's
//! `message` is its log body when public; by default it is redacted like
//! any other field (the record keeps `message` as a redacted attribute and
//! has no body). Do not make `message` public unless no event's message
//! ever interpolates personal data: `info!("login {email}")` formats the
//! email into `message`, where no field class can tell it apart. Put such
//! values in fields of their own (`info!(email, "login")`) and classify
//! those instead. On spans, `otel.kind` and
//! `otel.status_code` set the kind and status, as with
//! `tracing-opentelemetry`, whatever their class (they are never personal
//! data); `otel.status_message` sets the status description only when the
//! field is public. `log` records bridged by `tracing-log` are routed by
//! their own target and level.
//!
//! **One trace.** The layer and this library share the current span: a
//! `tracing` span entered inside an `#[instrument_event]` function is its
//! child, a function called inside an entered `tracing` span is that span's
//! child, and `tracing` events carry the trace and span id of the span they
//! happen in. With this feature on, `#[instrument_event]` also opens a plain
//! `tracing` span (marked with the field `telemetry.mirror`) for every call
//! consent allows, sampled or not, so other layers such as `fmt` show the
//! function; this layer ignores it, so nothing is reported twice. A call
//! consent denies opens none: its denied path stays a check and a branch.

mod fields;
mod filter;
mod recording;
mod routes;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tracing_core::{Level, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::category::Category;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::privacy::FieldClass;
use crate::telemetry::Telemetry;

use fields::FieldRules;
use routes::{Route, Routes, is_internal};

pub use filter::{ExclusiveTracingLayer, RouteFilter};
pub use routes::INTERNAL_TARGETS;

/// The layer, with its route filter applied, as [`TracingLayerBuilder::build`]
/// returns it. Add it to a `tracing_subscriber::registry()`.
pub type FilteredTracingLayer<S> = Filtered<TracingLayer, RouteFilter, S>;

/// Records `tracing` spans and events through a [`Telemetry`] pipeline.
/// Built with [`TracingLayer::builder`].
pub struct TracingLayer {
    telemetry: Telemetry,
    routes: Arc<Routes>,
    fields: Arc<FieldRules>,
}

/// Configures a [`TracingLayer`]. See the [module docs](self).
#[must_use = "call .build() to get the layer"]
pub struct TracingLayerBuilder {
    telemetry: Telemetry,
    routes: Vec<Route>,
    fields: Vec<(String, FieldClass)>,
    default_class: FieldClass,
}

impl TracingLayer {
    /// Starts configuring a layer that records into `telemetry`.
    pub fn builder(telemetry: &Telemetry) -> TracingLayerBuilder {
        TracingLayerBuilder {
            telemetry: telemetry.clone(),
            routes: Vec::new(),
            fields: Vec::new(),
            default_class: FieldClass::Redacted,
        }
    }
}

impl TracingLayerBuilder {
    /// Collects spans and events of `target` (and its submodules; `""` for
    /// every target) up to `level` as `category`.
    pub fn route(mut self, target: impl Into<String>, level: Level, category: Category) -> Self {
        self.routes.push(Route {
            target: target.into(),
            level,
            category,
        });
        self
    }

    /// Classifies the field `name` (on spans and events alike).
    pub fn field(mut self, name: impl Into<String>, class: FieldClass) -> Self {
        self.fields.push((name.into(), class));
        self
    }

    /// Classifies every field in `names` as `class`:
    /// `.fields(["sku", "quantity"], FieldClass::Public)`. (Make `message`
    /// public only when no message interpolates personal data; see the
    /// [module docs](self).)
    pub fn fields<N: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = N>,
        class: FieldClass,
    ) -> Self {
        self.fields
            .extend(names.into_iter().map(|n| (n.into(), class)));
        self
    }

    /// The class of fields not named with [`field`](Self::field)
    /// (default [`FieldClass::Redacted`]).
    pub fn default_field_class(mut self, class: FieldClass) -> Self {
        self.default_class = class;
        self
    }

    /// Checks the configuration and builds the layer with its routes as a
    /// per-layer filter: other layers (`fmt`, say) still see every span and
    /// event, whatever this layer's consent and sampling decide.
    ///
    /// `tracing-subscriber` still creates (in its registry) a span this
    /// layer declines if any callsite of it is routed, so a denied span
    /// costs a registry slot, though nothing here. When no other layer needs
    /// the spans this layer declines, [`build_exclusive`](Self::build_exclusive)
    /// avoids that.
    ///
    /// # Errors
    /// No routes; a route naming an internal target, a malformed target,
    /// the library's own category, or the same target and level twice; a
    /// field named twice with different classes, or an empty field name.
    pub fn build<S>(self) -> Result<FilteredTracingLayer<S>, ConfigError>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let (layer, filter) = self.parts()?;
        Ok(layer.with_filter(filter))
    }

    /// Checks the configuration and builds the layer with its routes as a
    /// global filter: a span or event it declines (unrouted, denied by
    /// consent, inside a sampled-out span) is not created at all, for any
    /// layer, so it costs about what `tracing` costs with no subscriber.
    /// Use it when this is the only layer, or when the other layers should
    /// see only what consent allows too. (Other layers then do not see the
    /// `tracing` spans `#[instrument_event]` opens either.)
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_exclusive(self) -> Result<ExclusiveTracingLayer, ConfigError> {
        let (layer, filter) = self.parts()?;
        Ok(ExclusiveTracingLayer { layer, filter })
    }

    fn parts(self) -> Result<(TracingLayer, RouteFilter), ConfigError> {
        let invalid = |m: String| Err(ConfigError::new(ConfigErrorKind::InvalidRoute, m));
        if self.routes.is_empty() {
            return invalid(
                "the tracing layer has no routes, so it would collect nothing: add \
                 .route(target, level, category) for the targets to collect (\"\" for all)"
                    .into(),
            );
        }
        for (i, r) in self.routes.iter().enumerate() {
            let t = r.target.as_str();
            if !t.is_empty()
                && (t.split("::").any(|seg| {
                    seg.is_empty()
                        || !seg
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                }))
            {
                return invalid(format!(
                    "tracing route target {t:?} is not a module path: use names joined by `::` \
                     such as \"my_service::db\", or \"\" for every target"
                ));
            }
            if is_internal(t) {
                return invalid(format!(
                    "tracing route target {t:?} belongs to a library the exporters use (or to this \
                     library); its records would feed back into the pipeline, so they are never \
                     collected: remove this route"
                ));
            }
            if r.category == Category::TELEMETRY {
                return invalid(format!(
                    "tracing route {t:?} uses Category::TELEMETRY, which is reserved for the \
                     library's own records: use a built-in or custom category"
                ));
            }
            if self.routes[..i]
                .iter()
                .any(|o| o.target == r.target && o.level == r.level)
            {
                return invalid(format!(
                    "tracing route {t:?} at level {} is given twice: keep one category for it",
                    r.level
                ));
            }
        }
        let mut classes: HashMap<Box<str>, FieldClass> = HashMap::new();
        for (name, class) in self.fields {
            if name.is_empty() {
                return invalid("a tracing field rule has an empty field name".into());
            }
            if let Some(old) = classes.insert(name.clone().into_boxed_str(), class)
                && old != class
            {
                return invalid(format!(
                    "tracing field {name:?} is classified twice ({old:?} and {class:?}): keep one"
                ));
            }
        }
        let routes = Arc::new(Routes::new(self.routes));
        let layer = TracingLayer {
            telemetry: self.telemetry.clone(),
            routes: routes.clone(),
            fields: Arc::new(FieldRules::new(classes, self.default_class)),
        };
        let filter = RouteFilter {
            telemetry: self.telemetry,
            routes,
        };
        Ok((layer, filter))
    }
}

impl fmt::Debug for TracingLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracingLayerBuilder")
            .field("routes", &self.routes)
            .field("fields", &self.fields)
            .field("default_class", &self.default_class)
            .finish()
    }
}

impl fmt::Debug for TracingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TracingLayer")
    }
}
