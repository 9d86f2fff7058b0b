//! The HTTP handlers of both roles, and the instrumented work they do.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use telemetry_core::{Category, Telemetry, instrument_event};
use telemetry_exporters::prometheus::PrometheusExporter;

use crate::App;
use crate::auth::Caller;
use crate::events::{OrderPlaced, ProductInterest};

/// An error response: status and message.
pub type Failure = (StatusCode, Json<Value>);

fn failure(status: StatusCode, message: impl Into<String>) -> Failure {
    (status, Json(json!({ "error": message.into() })))
}

/// The end user who sent the request, authenticated by their own token.
fn user(caller: &Caller) -> Result<&'static str, Failure> {
    match caller {
        Caller::User(user) => Ok(user),
        _ => Err(failure(
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer <token>` with a known token",
        )),
    }
}

fn category(telemetry: &Telemetry, name: &str) -> Result<Category, Failure> {
    telemetry
        .categories()
        .lookup(name)
        .filter(|c| *c != Category::TELEMETRY)
        .ok_or_else(|| {
            failure(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown category {name:?}: use performance, errors, interaction, resource or business"
                ),
            )
        })
}

/// The query of the consent endpoints: `?wait=1` answers only once every
/// live replica sharing the consent store has applied the change (for
/// confirming an erasure to the person), or `504` after [`WAIT_LIMIT`].
#[derive(Debug, Default, Deserialize)]
pub struct ChangeQuery {
    /// `1` or `true` to wait for every live replica.
    #[serde(default)]
    pub wait: Option<String>,
}

impl ChangeQuery {
    fn waits(&self) -> bool {
        matches!(self.wait.as_deref(), Some("1" | "true"))
    }
}

/// How long `?wait=1` waits for the other replicas.
pub const WAIT_LIMIT: Duration = Duration::from_secs(5);

/// `POST /consent/{category}`: the caller grants consent for a category.
pub async fn grant(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<ChangeQuery>,
) -> Result<Json<Value>, Failure> {
    set_consent(&app, &caller, name, true, query.waits()).await
}

/// `DELETE /consent/{category}`: the caller revokes consent; what is still
/// buffered about them in that category is purged, here and (as they apply
/// the change) on every replica sharing the consent store.
pub async fn revoke(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<ChangeQuery>,
) -> Result<Json<Value>, Failure> {
    set_consent(&app, &caller, name, false, query.waits()).await
}

/// Grants or revokes on a blocking thread: a change may write the consent
/// store (a file, a database) and a revocation waits for buffered records
/// to be purged and for an export in flight, none of which may hold up a
/// runtime worker. Answers the change's number in the shared store
/// (`null` with a local one) and, with `wait`, how many live replicas
/// applied it.
async fn set_consent(
    app: &App,
    caller: &Caller,
    name: String,
    allow: bool,
    wait: bool,
) -> Result<Json<Value>, Failure> {
    let user = user(caller)?;
    let c = category(&app.telemetry, &name)?;
    let telemetry = app.telemetry.clone();
    let result = tokio::task::spawn_blocking(move || {
        let consent = telemetry.consent();
        let receipt = if allow {
            consent.grant(user, c)
        } else {
            consent.revoke(user, c)
        };
        let receipt =
            receipt.map_err(|e| failure(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let replicas = if wait {
            let ack = consent.wait_applied(&receipt, WAIT_LIMIT).map_err(|e| {
                failure(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("the change is committed, but not every replica confirmed it: {e}"),
                )
            })?;
            Some(ack.replicas)
        } else {
            None
        };
        Ok((receipt.change().map(|id| id.0), replicas))
    })
    .await
    .map_err(|_| {
        failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the consent change did not complete",
        )
    })?;
    let (change, replicas) = result?;
    tracing::info!(category = %name, allowed = allow, "consent changed");
    Ok(Json(
        json!({ "category": name, "allowed": allow, "change": change, "replicas": replicas }),
    ))
}

/// `GET /consent`: what this replica records for the caller now (the
/// middleware has loaded their choices from a shared store; if that failed,
/// only the exempt categories are listed: the replica fails closed).
pub async fn consent(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, Failure> {
    let user = user(&caller)?;
    let telemetry = app.telemetry.clone();
    let allowed = tokio::task::spawn_blocking(move || {
        let names = telemetry.categories();
        Category::BUILTIN
            .iter()
            .filter(|c| **c != Category::TELEMETRY && telemetry.consent().allows(user, **c))
            .map(|c| names.name(*c).into_owned())
            .collect::<Vec<String>>()
    })
    .await
    .map_err(|_| {
        failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the consent lookup did not complete",
        )
    })?;
    Ok(Json(json!({ "allowed": allowed })))
}

/// An order as the client sends it.
#[derive(Deserialize)]
pub struct Order {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u64,
    /// Where to send the receipt. Personal data: never in `Debug` output,
    /// recorded only as a keyed hash (see [`OrderPlaced`]).
    pub email: String,
}

/// By hand, so that the email never lands in a log or an error message
/// through `{:?}`.
impl std::fmt::Debug for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Order")
            .field("sku", &self.sku)
            .field("quantity", &self.quantity)
            .field("email", &format_args!("<redacted>"))
            .finish()
    }
}

/// `POST /checkout` (frontend): reserves stock downstream, prices and
/// places the order.
#[instrument_event(
    name = "shop.checkout",
    category = performance,
    objective(success = 99.5, latency_ms = 250, latency_percentile = 99)
)]
pub async fn checkout(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Json(order): Json<Order>,
) -> Result<Json<Value>, Failure> {
    let user = user(&caller)?;
    tracing::info!(sku = %order.sku, quantity = order.quantity, "checkout started");
    let Some(downstream) = &app.downstream else {
        return Err(failure(
            StatusCode::NOT_IMPLEMENTED,
            "this instance has no --downstream inventory service",
        ));
    };
    let reserved = reserve_remote(downstream, user, &order.sku, order.quantity)
        .await
        .map_err(|e| failure(StatusCode::BAD_GATEWAY, e.to_string()))?;
    if !reserved {
        tracing::warn!(sku = %order.sku, "out of stock");
        return Err(failure(StatusCode::CONFLICT, "out of stock"));
    }
    let amount_cents = price(&order.sku, order.quantity);
    app.telemetry.emit(&OrderPlaced {
        customer: user,
        email: &order.email,
        sku: &order.sku,
        amount_cents,
    });
    tracing::info!(amount_cents, "order placed");
    Ok(Json(
        json!({ "placed": true, "amount_cents": amount_cents }),
    ))
}

/// Asks the inventory service to reserve stock for `user`.
#[instrument_event(name = "shop.reserve_remote", category = performance, fields(sku, quantity))]
async fn reserve_remote(
    downstream: &crate::downstream::Downstream,
    user: &str,
    sku: &str,
    quantity: u64,
) -> Result<bool, crate::downstream::DownstreamError> {
    let (status, body) = downstream
        .post(
            "/reserve",
            Some(user),
            &json!({ "sku": sku, "quantity": quantity }),
        )
        .await?;
    if status >= 500 {
        return Err(crate::downstream::DownstreamError(format!(
            "inventory answered {status}"
        )));
    }
    Ok(body
        .get("reserved")
        .and_then(Value::as_bool)
        .unwrap_or(false))
}

/// The price of `quantity` of `sku`, in cents (business data: recorded
/// only for customers who allow it).
#[instrument_event(name = "shop.price", category = business, fields(sku, quantity))]
fn price(sku: &str, quantity: u64) -> u64 {
    let unit = 100 + sku.bytes().map(u64::from).sum::<u64>() % 900;
    unit * quantity
}

/// A reservation request.
#[derive(Debug, Deserialize)]
pub struct Reservation {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u64,
}

/// `POST /reserve` (inventory): reserves stock for the caller's order. Only
/// for the deployment's own services (the frontend), which present the
/// service token; the customer is the user they name.
#[instrument_event(name = "inventory.reserve", category = performance)]
pub async fn reserve(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<Reservation>,
) -> Result<Json<Value>, Failure> {
    match caller {
        Caller::Service { .. } => {}
        Caller::User(_) => {
            return Err(failure(
                StatusCode::FORBIDDEN,
                "only the shop's own services may reserve stock",
            ));
        }
        Caller::Anonymous => {
            return Err(failure(
                StatusCode::UNAUTHORIZED,
                "send `Authorization: Bearer <service token>`",
            ));
        }
    }
    let reserved = reserve_stock(&app.telemetry, &r.sku, r.quantity).await;
    Ok(Json(json!({ "reserved": reserved })))
}

/// Checks and holds stock. Records which products the customer is
/// interested in (interaction data, under the customer's consent as the
/// upstream service passed it on).
#[instrument_event(name = "inventory.reserve_stock", category = performance, fields(sku, quantity))]
async fn reserve_stock(telemetry: &Telemetry, sku: &str, quantity: u64) -> bool {
    telemetry.emit(&ProductInterest { sku, quantity });
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let reserved = quantity <= 10;
    tracing::info!(sku, quantity, reserved, "stock checked");
    reserved
}

/// `GET /healthz`: `200 ok`, or `503` while this replica's view of a
/// shared consent store is stale (it refuses consent-requiring data until
/// the store answers again), so that a load balancer sends customers to
/// the replicas that can record for them.
pub async fn healthz(State(app): State<App>) -> (StatusCode, &'static str) {
    if app.telemetry.consent().freshness().stale {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "consent view stale: the consent store has not answered within max-staleness",
        )
    } else {
        (StatusCode::OK, "ok")
    }
}

/// `GET /metrics`: the service's metrics for Prometheus (OpenMetrics with
/// exemplars when the scraper asks for it, else the text format). Mounted
/// outside the telemetry middleware: a scrape is not a request of the
/// service's users.
pub async fn metrics(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
) -> impl axum::response::IntoResponse {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let scrape = PrometheusExporter::new(&app.telemetry).scrape(accept);
    (
        [(axum::http::header::CONTENT_TYPE, scrape.content_type)],
        scrape.body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::thread::ThreadId;

    use telemetry_core::consent::{Choices, ConsentStore};
    use telemetry_core::export::SubjectKey;
    use telemetry_core::{ConsentError, ConsentPolicy, KeyId};

    /// A consent store that notes the thread each save ran on.
    #[derive(Clone, Default)]
    struct ThreadNotingStore {
        saved_on: Arc<Mutex<Vec<ThreadId>>>,
    }

    impl ConsentStore for ThreadNotingStore {
        fn load(&self) -> Result<Vec<(SubjectKey, Choices)>, ConsentError> {
            Ok(Vec::new())
        }

        fn save(&self, _: SubjectKey, _: Choices) -> Result<(), ConsentError> {
            self.saved_on
                .lock()
                .map_err(|_| ConsentError::new("poisoned"))?
                .push(std::thread::current().id());
            Ok(())
        }
    }

    /// On a current-thread runtime every task runs on the test's thread, so
    /// a store called from the handler itself would run there too.
    #[tokio::test(flavor = "current_thread")]
    async fn consent_changes_do_not_run_on_the_runtime_thread() {
        let store = ThreadNotingStore::default();
        let telemetry = Telemetry::builder()
            .service("test", "0")
            .consent(
                ConsentPolicy::opt_in()
                    .require(Category::BUSINESS)
                    .require_opt_out(Category::INTERACTION),
            )
            .consent_store(store.clone())
            .hash_key(KeyId(1), [7u8; 32])
            .build()
            .unwrap();
        let token = crate::secrets::ServiceToken::from_vars(|_| None).unwrap();
        let app = App {
            telemetry,
            auth: crate::auth::Auth::new(&token),
            downstream: None,
        };
        let bob = Extension(Caller::User("bob"));
        let Json(granted) = grant(
            State(app.clone()),
            bob.clone(),
            Path("business".to_owned()),
            Query(ChangeQuery::default()),
        )
        .await
        .unwrap();
        assert_eq!(granted["allowed"], true);
        let Json(revoked) = revoke(
            State(app.clone()),
            bob,
            Path("interaction".to_owned()),
            Query(ChangeQuery::default()),
        )
        .await
        .unwrap();
        assert_eq!(revoked["allowed"], false);
        assert!(app.telemetry.consent().allows("bob", Category::BUSINESS));
        assert!(!app.telemetry.consent().allows("bob", Category::INTERACTION));
        let runtime_thread = std::thread::current().id();
        let saved_on = store.saved_on.lock().unwrap().clone();
        assert_eq!(saved_on.len(), 2, "one save per change");
        assert!(
            saved_on.iter().all(|t| *t != runtime_thread),
            "a consent store ran on the runtime's thread"
        );
    }

    #[test]
    fn an_orders_debug_output_redacts_the_email() {
        let order = Order {
            sku: "A-1".into(),
            quantity: 2,
            email: "someone@example.com".into(),
        };
        let shown = format!("{order:?}");
        assert!(!shown.contains("someone@example.com"), "{shown}");
        assert!(!shown.contains("someone"), "{shown}");
        assert!(
            shown.contains("A-1") && shown.contains("redacted"),
            "{shown}"
        );
        let pretty = format!("{order:#?}");
        assert!(!pretty.contains("someone@example.com"), "{pretty}");
    }
}
