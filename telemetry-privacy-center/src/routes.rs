//! The HTTP side: the page, the choice and deletion forms (answered with a
//! redirect for a plain form, JSON for the page's script), the choices the
//! snippet reads, the ingestion endpoint and the static assets.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HOST, ORIGIN};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;
use telemetry_core::Category;
use telemetry_core::consent::ConsentSource;

use crate::Shared;
use crate::html::{self, Notice, Render};
use crate::ingest::{self, Rejection};
use crate::model;
use crate::texts::Texts;

/// The snippet browsers load.
pub(crate) const SNIPPET_JS: &str = include_str!("../assets/telemetry.js");
/// The page's progressive enhancement (instant toggles).
pub(crate) const PAGE_JS: &str = include_str!("../assets/privacy-center.js");
/// The page's style sheet.
pub(crate) const PAGE_CSS: &str = include_str!("../assets/privacy-center.css");

type Center = State<Arc<Shared>>;

/// Whether a state-changing request comes from the service's own pages,
/// so no page elsewhere can change a person's choices (cross-site request
/// forgery). A browser that sends `Sec-Fetch-Site` is trusted on it alone
/// (`same-origin`, or `none` for a typed address; a sibling subdomain is
/// `same-site` and refused). Otherwise an `Origin` header must name the
/// request's own host (its `Host` header, or the URI's authority over
/// HTTP/2), case aside. A request with neither header is not from a
/// browser and passes. Behind a proxy that rewrites `Host`, keep the
/// original host (or rely on `Sec-Fetch-Site`, which every current browser
/// sends).
pub(crate) fn same_origin(parts: &Parts) -> bool {
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = header(ORIGIN.as_str()) else {
        return true;
    };
    let Some(origin_host) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let own = header(HOST.as_str()).or_else(|| parts.uri.authority().map(|a| a.as_str()));
    own.is_some_and(|own| own.eq_ignore_ascii_case(origin_host))
}

fn wants_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "this request came from another site; change choices from the privacy page itself",
    )
}

/// Nobody is signed in: JSON for the page's script, else back to the
/// page, which says to sign in.
fn unauthorized(parts: &Parts, base: &str) -> Response {
    if wants_json(parts) {
        error(
            StatusCode::UNAUTHORIZED,
            "sign in first: the privacy center changes the choices of the signed-in person only",
        )
    } else {
        Redirect::to(&format!("{base}?failed=signin")).into_response()
    }
}

/// A form body that does not parse.
fn bad_form(rejection: &FormRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("the form could not be read ({rejection}); send it from the privacy page"),
    )
}

/// The query of the page: what the last action did. Values that do not
/// parse are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    saved: Option<String>,
    deleted: Option<String>,
    failed: Option<String>,
}

impl PageQuery {
    /// The notice, from known codes only. A success is shown only when the
    /// page agrees with it (the person is signed in; after a deletion,
    /// every category that needs consent is off), so a crafted link cannot
    /// tell someone their data was deleted when it was not.
    fn notice(&self, texts: &Texts, model: &model::PageModel) -> Option<Notice> {
        if let Some(failed) = &self.failed {
            let text = match failed.as_str() {
                "unconfirmed" => &texts.delete_unconfirmed,
                "delete" => &texts.delete_failed,
                "signin" => &texts.sign_in,
                _ => &texts.save_failed,
            };
            return Some(Notice {
                text: text.clone(),
                error: true,
            });
        }
        if !model.signed_in {
            return None;
        }
        if let Some(n) = self
            .deleted
            .as_deref()
            .and_then(|d| d.parse::<usize>().ok())
        {
            let all_off = model
                .categories
                .iter()
                .filter(|c| c.can_change)
                .all(|c| c.allowed == Some(false));
            return all_off.then(|| Notice {
                text: Texts::fill(&texts.deleted, "n", &n.to_string()),
                error: false,
            });
        }
        let saved = self.saved.as_deref()?;
        let category = model.categories.iter().find(|c| c.name == saved)?;
        Some(Notice {
            text: Texts::fill(&texts.saved, "category", &category.name),
            error: false,
        })
    }
}

/// `GET {base}`: the page.
pub(crate) async fn page(
    State(center): Center,
    parts: Parts,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let person = center.person(&parts);
    let c = center.clone();
    // Reading the choices may load them from a shared store: not on a
    // runtime worker.
    let built = tokio::task::spawn_blocking(move || {
        let model = c.model(person.as_deref());
        let choices = c.choices_json(person.as_deref());
        (model, choices)
    })
    .await;
    let Ok((model, choices)) = built else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be built",
        );
    };
    let body = html::page(&Render {
        texts: &center.texts,
        base: &center.base,
        notice: query.notice(&center.texts, &model),
        model: &model,
        choices_json: &choices,
    });
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `GET {base}/choices.json`: what the snippet may send.
pub(crate) async fn choices(State(center): Center, parts: Parts) -> Response {
    let person = center.person(&parts);
    let c = center.clone();
    match tokio::task::spawn_blocking(move || c.choices_json(person.as_deref())).await {
        Ok(json) => (
            [
                (CONTENT_TYPE, "application/json"),
                (CACHE_CONTROL, "no-store"),
            ],
            json,
        )
            .into_response(),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the choices could not be read",
        ),
    }
}

/// `GET {base}/catalogue.json`: the catalogue the page is made from.
pub(crate) async fn catalogue(State(center): Center) -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        center.catalogue.to_json(),
    )
        .into_response()
}

/// The choice form.
#[derive(Debug, Deserialize)]
pub(crate) struct ChoiceForm {
    category: String,
    /// Present (`true`) when the box is ticked; a plain form leaves an
    /// unticked box out.
    allow: Option<String>,
}

/// What every form that changes something checks first, in this order:
/// the request comes from the service's own pages, someone is signed in,
/// the form parses. Gives the person and the form, or the answer.
fn admit<T>(
    center: &Shared,
    parts: &Parts,
    form: Result<axum::Form<T>, FormRejection>,
) -> Result<(String, T), Box<Response>> {
    if !same_origin(parts) {
        return Err(Box::new(forbidden()));
    }
    let Some(person) = center.person(parts) else {
        return Err(Box::new(unauthorized(parts, &center.base)));
    };
    match form {
        Ok(axum::Form(form)) => Ok((person, form)),
        Err(rejection) => Err(Box::new(bad_form(&rejection))),
    }
}

/// `POST {base}/consent`: grants or revokes one category.
pub(crate) async fn choose(
    State(center): Center,
    parts: Parts,
    form: Result<axum::Form<ChoiceForm>, FormRejection>,
) -> Response {
    let (person, form) = match admit(&center, &parts, form) {
        Ok(admitted) => admitted,
        Err(refused) => return *refused,
    };
    let policy = center.telemetry.consent().policy().clone();
    let Some(category) = center
        .telemetry
        .categories()
        .lookup(&form.category)
        .filter(|c| *c != Category::TELEMETRY && !policy.exempt_set().contains(*c))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "unknown category, or one that needs no consent: choose one the page offers",
        );
    };
    let allow = matches!(form.allow.as_deref(), Some("true" | "on" | "1"));
    let c = center.clone();
    let result = tokio::task::spawn_blocking(move || {
        let consent = c.telemetry.consent();
        let done = if allow {
            consent.grant_with(&person, category, ConsentSource::User)
        } else {
            consent.revoke_with(&person, category, ConsentSource::User)
        };
        done.map(|_| consent.state(&person, category).allows())
    })
    .await;
    let name = form.category;
    match result {
        Ok(Ok(allowed)) if wants_json(&parts) => {
            Json(json!({ "category": name, "allowed": allowed })).into_response()
        }
        Ok(Ok(_)) => {
            Redirect::to(&format!("{}?saved={}", center.base, query_escape(&name))).into_response()
        }
        _ if wants_json(&parts) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the choice could not be saved; try again",
        ),
        _ => Redirect::to(&format!("{}?failed=save", center.base)).into_response(),
    }
}

/// The deletion form.
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    confirm: Option<String>,
}

/// `POST {base}/delete`: revokes every category that needs consent, one
/// by one, so that each gets its own deletion request downstream.
pub(crate) async fn delete(
    State(center): Center,
    parts: Parts,
    form: Result<axum::Form<DeleteForm>, FormRejection>,
) -> Response {
    let (person, form) = match admit(&center, &parts, form) {
        Ok(admitted) => admitted,
        Err(refused) => return *refused,
    };
    if form.confirm.as_deref() != Some("yes") {
        return if wants_json(&parts) {
            error(
                StatusCode::BAD_REQUEST,
                "send confirm=yes to confirm the deletion",
            )
        } else {
            Redirect::to(&format!("{}?failed=unconfirmed", center.base)).into_response()
        };
    }
    let c = center.clone();
    let result = tokio::task::spawn_blocking(move || c.delete_all(&person)).await;
    match result {
        Ok(Ok(n)) if wants_json(&parts) => Json(json!({ "deletion_requests": n })).into_response(),
        Ok(Ok(n)) => Redirect::to(&format!("{}?deleted={n}", center.base)).into_response(),
        _ if wants_json(&parts) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the deletion could not be recorded everywhere; try again",
        ),
        _ => Redirect::to(&format!("{}?failed=delete", center.base)).into_response(),
    }
}

/// `POST {base}/events`: a batch of client events.
pub(crate) async fn events(State(center): Center, parts: Parts, body: Body) -> Response {
    if !same_origin(&parts) {
        return forbidden();
    }
    let limit = center.limits.max_body_bytes;
    // Reading stops past the limit; the one other way to fail, a client
    // gone mid-body, leaves nobody to answer, so both count as too large.
    let (bytes, too_large) = match axum::body::to_bytes(body, limit).await {
        Ok(b) => (b, false),
        Err(_) => (Bytes::new(), true),
    };
    let person = center.person(&parts);
    let outcome = if too_large {
        center.counters.reject_batch(Rejection::TooLarge);
        Err(Rejection::TooLarge)
    } else {
        ingest::ingest(
            &center.telemetry,
            &center.accepted,
            &center.limits,
            &center.counters,
            person.as_deref(),
            &bytes,
        )
    };
    match outcome {
        Ok(outcome) => {
            let rejected: serde_json::Map<String, serde_json::Value> = outcome
                .rejected
                .iter()
                .map(|(cause, n)| (cause.as_str().to_owned(), json!(n)))
                .collect();
            (
                StatusCode::ACCEPTED,
                Json(json!({ "accepted": outcome.accepted, "rejected": rejected })),
            )
                .into_response()
        }
        Err(Rejection::TooLarge) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("a batch may hold at most {limit} bytes; send smaller batches"),
        ),
        Err(Rejection::TooMany) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "a batch may hold at most {} events; send smaller batches",
                center.limits.max_events
            ),
        ),
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            "send JSON: {\"events\": [{\"name\": \"...\", \"fields\": {...}}]}",
        ),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `GET {base}/telemetry.js`.
pub(crate) async fn snippet() -> Response {
    asset("text/javascript; charset=utf-8", SNIPPET_JS)
}

/// `GET {base}/privacy-center.js`.
pub(crate) async fn page_js() -> Response {
    asset("text/javascript; charset=utf-8", PAGE_JS)
}

/// `GET {base}/privacy-center.css`.
pub(crate) async fn page_css() -> Response {
    asset("text/css; charset=utf-8", PAGE_CSS)
}

/// A category name made safe for a query string.
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&'static str, &'static str)]) -> Parts {
        let mut request = http::Request::builder().uri("/privacy/consent");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn cross_site_requests_are_refused() {
        assert!(same_origin(&parts(&[])));
        assert!(same_origin(&parts(&[
            ("host", "shop.example:8080"),
            ("origin", "https://shop.example:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&parts(&[
            ("host", "shop.example"),
            ("origin", "https://evil.example"),
        ])));
        assert!(!same_origin(&parts(&[
            ("host", "shop.example"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&parts(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&parts(&[("sec-fetch-site", "same-site")])));
        // Sec-Fetch-Site alone decides when present (a proxy may have
        // rewritten Host).
        assert!(same_origin(&parts(&[
            ("host", "internal:8080"),
            ("origin", "https://shop.example"),
            ("sec-fetch-site", "same-origin"),
        ])));
        // Without it: Origin against Host, case aside.
        assert!(same_origin(&parts(&[
            ("host", "Shop.Example"),
            ("origin", "https://shop.example"),
        ])));
        assert!(!same_origin(&parts(&[("origin", "https://shop.example")])));
    }

    #[test]
    fn the_assets_stay_small_and_load_nothing_from_elsewhere() {
        // "A few kB": the README states the snippet's size.
        assert!(SNIPPET_JS.len() < 5 * 1024, "{} bytes", SNIPPET_JS.len());
        assert!(PAGE_JS.len() < 4 * 1024, "{} bytes", PAGE_JS.len());
        for asset in [SNIPPET_JS, PAGE_JS, PAGE_CSS] {
            assert!(!asset.contains("http://") && !asset.contains("https://"));
            assert!(!asset.contains("@import") && !asset.contains("url("));
        }
    }

    #[test]
    fn query_escaping() {
        assert_eq!(query_escape("interaction"), "interaction");
        assert_eq!(query_escape("a b&c"), "a%20b%26c");
    }
}
