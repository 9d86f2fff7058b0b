//! The person's side: the privacy center (`/privacy`), the demo page that
//! sends web vitals and a click through the snippet (`/demo`), and a demo
//! sign-in that puts a user's token in a cookie so a browser can use both
//! (`/login`).
//!
//! The privacy center learns who is signed in from the [`Caller`] the
//! telemetry middleware's hook left in the request (a bearer token or the
//! `session` cookie); peer services acting for a user cannot use it.

use axum::Form;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use telemetry_core::{Category, ConfigError, Telemetry};
use telemetry_privacy_center::events::WebVital;
use telemetry_privacy_center::{PrivacyCenter, script_json};

use crate::auth::{self, Caller};
use crate::events::Click;

/// The service's privacy center: what each category is for, and the
/// client events browsers may send.
pub fn center(telemetry: &Telemetry) -> Result<PrivacyCenter, ConfigError> {
    PrivacyCenter::builder(telemetry)
        .identify(|parts| match parts.extensions.get::<Caller>()? {
            Caller::User(user) => Some((*user).to_owned()),
            _ => None,
        })
        .purpose(
            Category::PERFORMANCE,
            "How fast pages and orders are, so we can keep the shop quick.",
        )
        .purpose(
            Category::ERRORS,
            "What went wrong, so we can fix it. Never linked to you.",
        )
        .purpose(
            Category::RESOURCE,
            "How much memory and processor time the service uses.",
        )
        .purpose(
            Category::INTERACTION,
            "Which products you look at and what you click, to improve the shop.",
        )
        .purpose(
            Category::BUSINESS,
            "Your orders, for sales reports. Only if you say yes.",
        )
        .accept::<WebVital<'static>>()
        .accept::<Click<'static>>()
        .build()
}

/// `GET /demo`: a page that loads the snippet, sends web vitals when it
/// is hidden, and a click event from its button, within the choices
/// embedded in the page.
pub async fn demo(
    axum::extract::State(center): axum::extract::State<PrivacyCenter>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Response {
    let person = match caller {
        Caller::User(user) => Some(user),
        _ => None,
    };
    let c = center.clone();
    let Ok(choices) = tokio::task::spawn_blocking(move || c.choices_json(person)).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be built",
        )
            .into_response();
    };
    let base = center.base_path();
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Shop demo</title>\n<link rel=\"stylesheet\" href=\"{base}/privacy-center.css\">\n\
         <script type=\"application/json\" id=\"telemetry-choices\">{choices}</script>\n\
         <script src=\"{base}/telemetry.js\" data-page=\"demo\" defer></script>\n</head>\n<body>\n<main>\n\
         <h1>Shop demo</h1>\n<p>This page sends its load timings (web vitals) when you leave it, and a \
         click event when you press the button, if you allow interaction data.</p>\n\
         <p><button id=\"add-to-cart\" data-telemetry-click=\"shop.click\" \
         data-telemetry-fields='{{\"target\":\"add-to-cart\",\"page\":\"demo\"}}'>Add to cart</button></p>\n\
         <p><a href=\"{base}\">Your privacy choices</a></p>\n</main>\n</body>\n</html>\n",
        choices = script_json(&choices),
    );
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// `GET /login`: the demo sign-in form.
pub async fn login_form() -> Response {
    let page = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
        <title>Sign in</title>\n<link rel=\"stylesheet\" href=\"/privacy/privacy-center.css\">\n</head>\n\
        <body>\n<main>\n<h1>Sign in</h1>\n<form method=\"post\" action=\"/login\">\n\
        <label for=\"token\">Your token</label>\n<input id=\"token\" name=\"token\" type=\"password\" \
        autocomplete=\"current-password\">\n<button type=\"submit\">Sign in</button>\n</form>\n\
        </main>\n</body>\n</html>\n";
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// The sign-in form's field.
#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /login`: a user's token becomes the `session` cookie (HttpOnly,
/// SameSite=Strict), then on to the privacy center. A stand-in for real
/// sign-in, like the tokens themselves.
pub async fn login(Form(login): Form<Login>) -> Response {
    if auth::user_for_token(&login.token).is_none() || !auth::cookie_safe(&login.token) {
        return (StatusCode::UNAUTHORIZED, "unknown token").into_response();
    }
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict",
        auth::SESSION_COOKIE,
        login.token
    );
    ([(SET_COOKIE, cookie)], Redirect::to("/privacy")).into_response()
}
