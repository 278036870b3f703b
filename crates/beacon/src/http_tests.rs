//! Unit tests for `http`: the router answered in memory (no sockets), on a current-thread runtime.

use super::*;
use axum::body::Body;
use axum::http::{Method, Request};
use hyper::service::Service as _;
use hyper_util::service::TowerToHyperService;

/// (status, content type, Allow, body) of one request through the router.
fn call(method: Method, path: &str) -> (u16, String, Option<String>, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let service = TowerToHyperService::new(router());
    let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
    let response = runtime.block_on(service.call(request)).unwrap();
    let header = |name| response.headers().get(name).map(|v: &HeaderValue| v.to_str().unwrap().to_owned());
    let (content_type, allow) = (header(CONTENT_TYPE).unwrap_or_default(), header(axum::http::header::ALLOW));
    assert_eq!(header(CACHE_CONTROL).as_deref(), Some("no-store"), "{path}");
    let status = response.status().as_u16();
    let body = runtime.block_on(axum::body::to_bytes(response.into_body(), 64 * 1024)).unwrap();
    (status, content_type, allow, String::from_utf8(body.to_vec()).unwrap())
}

#[test]
fn healthz() {
    assert_eq!(call(Method::GET, "/healthz"), (200, TEXT.to_owned(), None, HEALTHZ_BODY.to_owned()));
    assert_eq!(call(Method::GET, "/healthz?verbose=1").0, 200);
}

#[test]
fn version() {
    let (status, content_type, _, body) = call(Method::GET, "/version");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let expected = format!(
        "{{\"name\":\"beacon\",\"version\":\"{}\",\"revision\":\"{}\"}}\n",
        env!("CARGO_PKG_VERSION"),
        crate::REVISION
    );
    assert_eq!(body, expected);
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn index() {
    let (status, _, _, body) = call(Method::GET, "/");
    assert_eq!(status, 200);
    assert!(body.starts_with(&format!("beacon {} (", env!("CARGO_PKG_VERSION"))), "{body}");
}

#[test]
fn unknown_paths_are_404_whatever_the_method() {
    for method in [Method::GET, Method::POST] {
        for path in ["/nope", "/healthz/", "/version.json"] {
            let (status, content_type, _, body) = call(method.clone(), path);
            assert_eq!((status, body.as_str()), (404, "404 not found\n"), "{method} {path}");
            assert_eq!(content_type, TEXT);
        }
    }
}

#[test]
fn other_methods_are_405_with_allow() {
    for method in [Method::POST, Method::DELETE, Method::PUT] {
        let (status, _, allow, body) = call(method, "/healthz");
        assert_eq!((status, body.as_str()), (405, "405 method not allowed\n"));
        assert_eq!(allow.as_deref(), Some("GET,HEAD"));
    }
}

#[test]
fn head_is_answered_like_get() {
    // The router answers HEAD with GET's headers; hyper drops the body on the wire.
    let (status, content_type, _, _) = call(Method::HEAD, "/healthz");
    assert_eq!((status, content_type.as_str()), (200, TEXT));
}
