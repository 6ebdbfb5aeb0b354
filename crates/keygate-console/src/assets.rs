//! The page's script, style sheet and icon, the console's own files compiled in.

use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;

const SCRIPT: &str = include_str!("../assets/console.js");
const STYLE: &str = include_str!("../assets/console.css");
/// The console's own icon, so a browser never asks the app for `/favicon.ico`.
const ICON: &str = include_str!("../assets/favicon.svg");

pub(crate) async fn script() -> Response {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

pub(crate) async fn style() -> Response {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

pub(crate) async fn icon() -> Response {
    ([(CONTENT_TYPE, "image/svg+xml")], ICON).into_response()
}
