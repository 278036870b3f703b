//! What beacon answers: the routes, their bodies and headers, as an axum [`Router`]. The router is
//! plain data (no sockets), so it is unit-tested directly; `server` runs it on hyper connections.
//!
//! Routes: `GET /healthz` (`ok`), `GET /version` (JSON), `GET /` (a short text). HEAD is answered
//! for each (headers only); another method on a known path is 405 with `Allow`; anything else 404.

use axum::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The body of `GET /healthz`.
pub const HEALTHZ_BODY: &str = "ok\n";

const TEXT: &str = "text/plain; charset=utf-8";

pub fn router() -> Router {
    Router::new()
        .route("/healthz", get(|| async { ([(CONTENT_TYPE, TEXT)], HEALTHZ_BODY) }))
        .route("/version", get(|| async { ([(CONTENT_TYPE, "application/json")], version_json()) }))
        .route("/", get(|| async { ([(CONTENT_TYPE, TEXT)], index_text()) }))
        .fallback(|| async { status_only(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async { status_only(StatusCode::METHOD_NOT_ALLOWED) })
        // Every answer, errors included, is about this instant: no cache may keep it.
        .layer(axum::middleware::map_response(|mut response: Response| async move {
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }))
}

/// `{"name":"beacon","version":"X.Y.Z","revision":"abc1234"}` and a newline.
pub fn version_json() -> String {
    let string = |s: &str| serde_json::Value::from(s).to_string(); // a JSON string literal, escaped
    format!(
        "{{\"name\":{},\"version\":{},\"revision\":{}}}\n",
        string(crate::NAME),
        string(crate::VERSION),
        string(crate::REVISION)
    )
}

fn index_text() -> String {
    format!("{} {} ({})\nendpoints: /healthz /version\n", crate::NAME, crate::VERSION, crate::REVISION)
}

/// A plain-text answer naming the status (`404 not found`), for the error routes.
fn status_only(status: StatusCode) -> impl IntoResponse {
    let reason = status.canonical_reason().unwrap_or_default().to_ascii_lowercase();
    (status, [(CONTENT_TYPE, TEXT)], format!("{} {reason}\n", status.as_u16()))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
