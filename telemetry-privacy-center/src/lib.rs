//! # telemetry-privacy-center
//!
//! The person behind the data, for services instrumented with
//! [`telemetry_core`]:
//!
//! - **a privacy page**, generated from the catalogue and the consent
//!   policy: each category with the purpose the service wrote for it,
//!   every event and operation it covers with each field's treatment
//!   (recorded as is, keyed hash, placeholder, never collected), whether it
//!   is exempt (and therefore anonymous), the signed-in person's choice
//!   with a switch, their consent history from the audit trail (by
//!   pseudonymous key only), and "delete what you hold about me". Plain
//!   server-rendered HTML that works without JavaScript; a small script
//!   makes the switches instant. Accessible (labels, keyboard, contrast),
//!   no third-party asset, every sentence translatable ([`Texts`]);
//! - **client events through the gate**: an endpoint that takes batches of
//!   events from browsers, checks each against the catalogue schema of an
//!   event type the service accepts, and records it exactly like a
//!   server-side event (the person's consent, the sampler, the fields'
//!   privacy classes, the request's trace). Refusals are counted by cause
//!   ([`IngestStats`], and the metric [`CLIENT_EVENTS_METRIC`]);
//! - **a snippet** (`{base}/telemetry.js`, no build step, 4.2 kB, 1.7 kB gzipped) that
//!   sends web vitals ([`events::WebVital`]) and the page's declared
//!   interaction events with `sendBeacon`, in batches, and sends nothing
//!   for a category the person has not allowed.
//!
//! ```
//! use axum::Router;
//! use telemetry_core::{Category, ConsentPolicy, Telemetry};
//! use telemetry_privacy_center::{PrivacyCenter, events::WebVital};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::builder()
//!     .service("shop", "1.0")
//!     .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
//!     .build()?;
//! /// What the service's authentication middleware leaves in a request
//! /// after it checked the session cookie.
//! #[derive(Clone)]
//! struct Session {
//!     user: String,
//! }
//!
//! let center = PrivacyCenter::builder(&telemetry)
//!     // The person a checked credential names, never a header or
//!     // parameter the client chooses.
//!     .identify(|parts| Some(parts.extensions.get::<Session>()?.user.clone()))
//!     .purpose(Category::INTERACTION, "Which products you look at, to improve the shop.")
//!     .accept::<WebVital<'static>>()
//!     .build()?;
//! let app: Router = Router::new().merge(center.router());
//! # let _ = app; Ok(()) }
//! ```
//!
//! The routes, under the base path (default `/privacy`):
//!
//! | route | what |
//! |---|---|
//! | `GET {base}` | the page |
//! | `POST {base}/consent` | form `category=…&allow=true` (an unticked box: no `allow`): grant or revoke |
//! | `POST {base}/delete` | form `confirm=yes`: revoke every category that needs consent, one deletion request each |
//! | `POST {base}/events` | a batch of client events (see [`ingest`]) |
//! | `GET {base}/choices.json` | the categories the person allows and the accepted events, for the snippet |
//! | `GET {base}/catalogue.json` | the catalogue the page is made from |
//! | `GET {base}/telemetry.js`, `privacy-center.js`, `privacy-center.css` | the assets |
//!
//! A form answers with a redirect back to the page, or with JSON when the
//! request accepts `application/json` (the page's script). Requests that
//! change anything are refused when a browser says another site sent them
//! (`Origin`, `Sec-Fetch-Site`), so no other page can change a person's
//! choices. Grants and revocations run on a blocking thread: they may
//! write a shared store.
//!
//! ## Crate features
//!
//! None: the crate is the axum integration.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod events;
mod html;
pub mod ingest;
pub mod model;
mod routes;
pub mod texts;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use http::request::Parts;
use telemetry_core::catalogue::Catalogue;
use telemetry_core::consent::ConsentSource;
use telemetry_core::event::EventSchema;
use telemetry_core::{
    Category, ConfigError, ConfigErrorKind, ConsentError, FieldClass, Telemetry, TelemetryEvent,
};

pub use ingest::{BatchOutcome, IngestLimits, IngestStats, Rejection};
pub use model::PageModel;
pub use texts::Texts;

type Identify = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// The counter of browser events (`telemetry.client_events`, category
/// `telemetry`, attribute `outcome`: `accepted`, a [`Rejection`] name, or
/// `batch_` and one for a batch refused whole), beside
/// [`PrivacyCenter::stats`].
pub const CLIENT_EVENTS_METRIC: &str = "telemetry.client_events";

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) telemetry: Telemetry,
    identify: Box<Identify>,
    purposes: Vec<(Category, String)>,
    pub(crate) texts: Texts,
    pub(crate) base: String,
    pub(crate) accepted: Vec<&'static EventSchema>,
    pub(crate) limits: IngestLimits,
    pub(crate) counters: ingest::Counters,
    history_limit: usize,
    pub(crate) catalogue: Catalogue,
}

impl Shared {
    /// The signed-in person, by the service's hook.
    pub(crate) fn person(&self, parts: &Parts) -> Option<String> {
        (self.identify)(parts).filter(|p| !p.is_empty())
    }

    pub(crate) fn model(&self, person: Option<&str>) -> PageModel {
        model::build(
            &self.telemetry,
            &self.catalogue,
            &self.purposes,
            person,
            self.history_limit,
        )
    }

    /// What the snippet reads: the allowed categories, the accepted events
    /// with their categories, and where to send them.
    pub(crate) fn choices_json(&self, person: Option<&str>) -> String {
        let consent = self.telemetry.consent();
        let names = self.telemetry.categories();
        let policy = consent.policy();
        let allowed: Vec<String> = model::shown_categories(
            &self.telemetry,
            &self.catalogue,
            self.purposes.iter().map(|(c, _)| *c),
        )
        .into_iter()
        .filter(|c| match person {
            Some(p) => consent.state(p, *c).allows(),
            None => policy.exempt_set().contains(*c),
        })
        .map(|c| names.name(c).into_owned())
        .collect();
        let events: serde_json::Map<String, serde_json::Value> = self
            .accepted
            .iter()
            .map(|s| {
                (
                    s.name.to_owned(),
                    names.name(s.category).into_owned().into(),
                )
            })
            .collect();
        serde_json::json!({
            "allowed": allowed,
            "events": events,
            "endpoint": format!("{}/events", self.base),
        })
        .to_string()
    }

    /// Revokes every shown category that needs consent, one by one; the
    /// number of deletion requests made.
    pub(crate) fn delete_all(&self, person: &str) -> Result<usize, ConsentError> {
        let consent = self.telemetry.consent();
        let policy = consent.policy();
        let mut requests = 0;
        let mut first_error = None;
        for c in model::shown_categories(
            &self.telemetry,
            &self.catalogue,
            self.purposes.iter().map(|(c, _)| *c),
        ) {
            if policy.exempt_set().contains(c) {
                continue;
            }
            match consent.revoke_with(person, c, ConsentSource::User) {
                Ok(_) => {
                    if !policy.keep_on_revoke_set().contains(c) {
                        requests += 1;
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(requests),
        }
    }
}

/// The privacy center of one service. Cheap to clone.
#[derive(Clone)]
pub struct PrivacyCenter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PrivacyCenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivacyCenter")
            .field("base", &self.shared.base)
            .field("accepted", &self.shared.accepted.len())
            .finish_non_exhaustive()
    }
}

impl PrivacyCenter {
    /// Starts a privacy center for `telemetry`.
    pub fn builder(telemetry: &Telemetry) -> PrivacyCenterBuilder {
        PrivacyCenterBuilder {
            telemetry: telemetry.clone(),
            identify: None,
            purposes: Vec::new(),
            texts: Texts::default(),
            base: "/privacy".to_owned(),
            accepted: Vec::new(),
            limits: IngestLimits::default(),
            history_limit: 100,
        }
    }

    /// The routes (see the crate documentation), for the service's router:
    /// `Router::new().merge(center.router())`. Add them before the
    /// service's telemetry middleware layer, so that client events are
    /// recorded within the request's trace.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let b = &self.shared.base;
        Router::new()
            .route(b, get(routes::page))
            .route(&format!("{b}/consent"), post(routes::choose))
            .route(&format!("{b}/delete"), post(routes::delete))
            .route(&format!("{b}/events"), post(routes::events))
            .route(&format!("{b}/choices.json"), get(routes::choices))
            .route(&format!("{b}/catalogue.json"), get(routes::catalogue))
            .route(&format!("{b}/telemetry.js"), get(routes::snippet))
            .route(&format!("{b}/privacy-center.js"), get(routes::page_js))
            .route(&format!("{b}/privacy-center.css"), get(routes::page_css))
            .with_state(self.shared.clone())
    }

    /// What the page shows `person` (`None`: nobody signed in). Reads the
    /// consent store: call it off the async runtime's workers.
    pub fn page_model(&self, person: Option<&str>) -> PageModel {
        self.shared.model(person)
    }

    /// The page as HTML for `person`, as `GET {base}` serves it.
    pub fn render(&self, person: Option<&str>) -> String {
        let model = self.shared.model(person);
        let choices = self.shared.choices_json(person);
        html::page(&html::Render {
            texts: &self.shared.texts,
            base: &self.shared.base,
            model: &model,
            notice: None,
            choices_json: &choices,
        })
    }

    /// The JSON the snippet reads its choices from, to embed in the
    /// service's own pages as
    /// `<script type="application/json" id="telemetry-choices">…</script>`
    /// (escape it with [`script_json`]); without it the snippet fetches
    /// `choices.json` beside the address it was loaded from.
    pub fn choices_json(&self, person: Option<&str>) -> String {
        self.shared.choices_json(person)
    }

    /// Records a batch of client events for `person` (`None`: nobody
    /// signed in, so exempt categories only, anonymously), as `POST
    /// {base}/events` does (for services that take them elsewhere).
    pub fn ingest(&self, person: Option<&str>, body: &[u8]) -> Result<BatchOutcome, Rejection> {
        let s = &self.shared;
        ingest::ingest(
            &s.telemetry,
            &s.accepted,
            &s.limits,
            &s.counters,
            person,
            body,
        )
    }

    /// What the ingestion endpoint took and refused so far.
    pub fn stats(&self) -> IngestStats {
        self.shared.counters.snapshot()
    }

    /// The base path of the routes.
    pub fn base_path(&self) -> &str {
        &self.shared.base
    }

    /// The snippet's source, as served at `{base}/telemetry.js`.
    pub fn snippet() -> &'static str {
        routes::SNIPPET_JS
    }
}

/// JSON made safe to embed in a `<script>` element.
pub fn script_json(json: &str) -> String {
    html::script_json(json)
}

/// Configures a [`PrivacyCenter`]. Invalid settings are reported by
/// [`build`](Self::build).
#[must_use = "call .build()"]
pub struct PrivacyCenterBuilder {
    telemetry: Telemetry,
    identify: Option<Box<Identify>>,
    purposes: Vec<(Category, String)>,
    texts: Texts,
    base: String,
    accepted: Vec<&'static EventSchema>,
    limits: IngestLimits,
    history_limit: usize,
}

impl std::fmt::Debug for PrivacyCenterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivacyCenterBuilder")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl PrivacyCenterBuilder {
    /// Who is signed in: the service's authentication, given the request
    /// (its headers, cookies and the extensions earlier middleware set).
    /// Required. It must rely on a credential the service checked (a
    /// session, a verified token), never on a header or parameter the
    /// client chooses: whoever it names can read that person's history and
    /// change their choices. Return the raw id whose consent applies; it is
    /// turned into the pseudonymous key at once and never shown or stored.
    pub fn identify(
        mut self,
        identify: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.identify = Some(Box::new(identify));
        self
    }

    /// Why the service collects `category`, in the page's language. Every
    /// category the page shows should have one.
    pub fn purpose(mut self, category: Category, text: impl Into<String>) -> Self {
        self.purposes.retain(|(c, _)| *c != category);
        self.purposes.push((category, text.into()));
        self
    }

    /// The page's text (translations). Default: English.
    pub fn texts(mut self, texts: Texts) -> Self {
        self.texts = texts;
        self
    }

    /// Where the routes live (default `/privacy`): starts with `/`, no
    /// trailing `/`, letters, digits, `-`, `_`, `.` and `/` only, and no
    /// `.` or `..` segment.
    pub fn base_path(mut self, base: impl Into<String>) -> Self {
        self.base = base.into();
        self
    }

    /// Accepts client events of type `E` at `{base}/events`. Its fields
    /// must be of type bool, int, uint, float or string (a field the
    /// schema drops may be of any type: a value sent for it is never
    /// read).
    pub fn accept<E: TelemetryEvent>(self) -> Self {
        self.accept_schema(E::SCHEMA)
    }

    /// Like [`accept`](Self::accept), by schema.
    pub fn accept_schema(mut self, schema: &'static EventSchema) -> Self {
        if !self.accepted.iter().any(|s| s.name == schema.name) {
            self.accepted.push(schema);
        }
        self
    }

    /// Bounds on what one batch may hold.
    pub fn limits(mut self, limits: IngestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The most history entries the page shows (default 100).
    pub fn history_limit(mut self, limit: usize) -> Self {
        self.history_limit = limit;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<PrivacyCenter, ConfigError> {
        let invalid =
            |message: String| ConfigError::new(ConfigErrorKind::InvalidIntegration, message);
        let Some(identify) = self.identify else {
            return Err(invalid(
                "the privacy center needs to know who is signed in: add .identify(|parts| ...) \
                 returning the person's id from your authentication"
                    .to_owned(),
            ));
        };
        let base_ok = self.base.starts_with('/')
            && self.base.len() > 1
            && !self.base.ends_with('/')
            && self
                .base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
            && !self.base.contains("//")
            && !self.base.split('/').any(|seg| seg == "." || seg == "..");
        if !base_ok {
            return Err(invalid(format!(
                "base path {:?} is not valid: use a path such as \"/privacy\" (starting with '/', \
                 no trailing '/', letters, digits, '-', '_', '.' and '/')",
                self.base
            )));
        }
        for schema in &self.accepted {
            if let Some(f) = schema
                .fields
                .iter()
                .find(|f| f.class != FieldClass::Dropped && !ingest::client_type(f.ty))
            {
                return Err(invalid(format!(
                    "client event {:?} has field {:?} of type {}: client events may have bool, \
                     int, uint, float or string fields only",
                    schema.name,
                    f.name,
                    f.ty.name()
                )));
            }
        }
        if self.limits.max_events == 0 || self.limits.max_body_bytes == 0 {
            return Err(invalid(
                "ingest limits must allow at least one event and one byte".to_owned(),
            ));
        }
        let metric = self
            .telemetry
            .counter(CLIENT_EVENTS_METRIC, Category::TELEMETRY)
            .unit("{event}")
            .description(
                "Events browsers sent to the privacy center, by outcome: accepted, a refusal \
                 cause, or batch_<cause> for a batch refused whole.",
            )
            .attribute("outcome")
            .build()?;
        let counters = ingest::Counters::with_metric(metric);
        Ok(PrivacyCenter {
            shared: Arc::new(Shared {
                telemetry: self.telemetry,
                identify,
                purposes: self.purposes,
                texts: self.texts,
                base: self.base,
                accepted: self.accepted,
                limits: self.limits,
                counters,
                history_limit: self.history_limit,
                catalogue: Catalogue::collect(),
            }),
        })
    }
}
