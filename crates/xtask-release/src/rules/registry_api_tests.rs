use super::*;

fn answer(status: u16, reason: &str, content_type: &str, body: &str) -> Response {
    Response {
        status,
        reason: reason.into(),
        headers: vec![("Content-Type".into(), content_type.into())],
        body: body.as_bytes().to_vec(),
    }
}

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

#[test]
fn absent_is_a_404_with_the_specs_code_and_nothing_else() {
    let manifest_unknown =
        r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1.0.0"}}]}"#;
    let name_unknown = r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
    for body in [manifest_unknown, name_unknown] {
        assert_eq!(judge(&answer(404, "Not Found", "application/json", body), Absence::Manifest), Judged::Absent);
        // A write, or a read that must find its object, is never "absent".
        assert!(matches!(judge(&answer(404, "Not Found", "application/json", body), Absence::Never), Judged::Stop(_)));
    }
    // The lies: a proxy's 404 page, Go's plain 404, a 403 whose code says NOT_FOUND, an empty 404.
    let page = "<html><body>404 page not found</body></html>";
    let html = judge(&answer(404, "Not Found", "text/html", page), Absence::Manifest);
    assert_eq!(html, Judged::Stop("404 Not Found, an HTML page (\"404 page not found\")".into()));
    let plain = judge(&answer(404, "Not Found", "text/plain", "404 page not found\n"), Absence::Manifest);
    assert_eq!(plain, Judged::Stop("404 Not Found, not the registry API's error body (\"404 page not found\")".into()));
    let forbidden = r#"{"errors":[{"code":"NOT_FOUND","message":"artifact not found"}]}"#;
    let forbidden = judge(&answer(403, "Forbidden", "application/json", forbidden), Absence::Manifest);
    assert_eq!(forbidden, Judged::Stop("403 Forbidden, NOT_FOUND: artifact not found".into()));
    assert_eq!(judge(&answer(404, "", "", ""), Absence::Manifest), Judged::Stop("404 Not Found, no body".into()));
    // A blob's HEAD has no body: its 404 means "upload it".
    assert_eq!(judge(&answer(404, "Not Found", "", ""), Absence::BlobHead), Judged::Absent);
}

#[test]
fn busy_answers_are_retried_by_their_status_whatever_the_body() {
    let cases = [
        (
            429,
            "Too Many Requests",
            r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests"}]}"#,
            "429 Too Many Requests",
        ),
        (
            503,
            "Service Unavailable",
            r#"{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}"#,
            "503 Service Unavailable",
        ),
        (502, "Bad Gateway", NGINX_502, "502 Bad Gateway"),
        (504, "", "", "504 Gateway Timeout"),
    ];
    for (status, reason, body, expected) in cases {
        assert_eq!(judge(&answer(status, reason, "x", body), Absence::Manifest), Judged::Retry(expected.into()));
    }
    assert_eq!(
        describe(&answer(502, "Bad Gateway", "text/html", NGINX_502)),
        "502 Bad Gateway, an HTML page (\"502 Bad Gateway\")"
    );
    assert!(
        matches!(judge(&answer(400, "Bad Request", "", r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#), Absence::Never), Judged::Stop(s) if s == "400 Bad Request, MANIFEST_INVALID: manifest invalid")
    );
    assert_eq!(judge(&answer(201, "Created", "", ""), Absence::Never), Judged::Done);
}

#[test]
fn curls_output_gives_the_last_answer() {
    let raw = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: https://blobs.example/x\r\n\r\nHTTP/2 200\r\ncontent-type: application/json\r\nretry-after: 3\r\n\r\n{\"a\":1}";
    let response = parse_response(raw).unwrap();
    assert_eq!((response.status, response.reason.as_str()), (200, ""));
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    assert_eq!(response.body, b"{\"a\":1}");
    let head = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert_eq!((head.status, head.reason.as_str(), head.body.len()), (404, "Not Found", 0));
    assert_eq!(parse_response(b"garbage"), None);
}

#[test]
fn references_split_into_registry_repository_and_tag_or_digest() {
    let p = parts("127.0.0.1:5000/acme/beacon:1.0").unwrap();
    assert_eq!((p.registry, p.repository, p.reference), ("127.0.0.1:5000", "acme/beacon", "1.0"));
    let p = parts("ghcr.io/acme/beacon@sha256:ab").unwrap();
    assert_eq!((p.registry, p.repository, p.reference), ("ghcr.io", "acme/beacon", "sha256:ab"));
    assert_eq!(parts("reg.lan:5000/acme/beacon").unwrap().reference, "latest");
    assert_eq!(api_host("docker.io"), "registry-1.docker.io");
    assert_eq!(api_host("ghcr.io"), "ghcr.io");
}

#[test]
fn challenges_and_tokens_follow_the_token_spec() {
    let c =
        challenge(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/x:pull""#).unwrap();
    assert_eq!(
        (c.scheme.as_str(), c.realm.as_str(), c.service.as_deref()),
        ("bearer", "https://ghcr.io/token", Some("ghcr.io"))
    );
    assert_eq!(
        token_url(&c, "acme/x", "pull,push"),
        "https://ghcr.io/token?service=ghcr.io&scope=repository%3Aacme%2Fx%3Apull%2Cpush"
    );
    assert_eq!(challenge("Basic realm=\"Registry Realm\"").unwrap().scheme, "basic");
    assert_eq!(token(br#"{"token":"t1","expires_in":300}"#).as_deref(), Some("t1"));
    assert_eq!(token(br#"{"access_token":"t2"}"#).as_deref(), Some("t2"));
    assert_eq!(token(b"{}"), None);
    let relative = upload_url("http://127.0.0.1:5000", "/v2/acme/x/blobs/uploads/u1?_state=s", "sha256:ab");
    assert_eq!(relative, "http://127.0.0.1:5000/v2/acme/x/blobs/uploads/u1?_state=s&digest=sha256%3Aab");
    assert_eq!(upload_url("https://a", "https://b/up", "sha256:ab"), "https://b/up?digest=sha256%3Aab");
    assert_eq!(shown("http://h/v2/x/blobs/uploads/u?_state=secret"), "http://h/v2/x/blobs/uploads/u");
    assert_eq!(curl_quoted("Authorization: Bearer a\"b\\c\n"), r#""Authorization: Bearer a\"b\\c""#);
}

#[test]
fn base64_round_trips() {
    for text in ["", "a", "ab", "abc", "user:pa:ss", "ci:s3cret!"] {
        let encoded = base64_encode(text.as_bytes());
        assert_eq!(base64_decode(&encoded).unwrap(), text.as_bytes(), "{text}");
    }
    assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
    assert_eq!(base64_decode("not base64!"), None);
}

#[test]
fn a_manifest_without_a_content_type_is_known_by_its_fields() {
    let index = br#"{"schemaVersion": 2, "manifests": []}"#;
    assert_eq!(media_type_of(index).unwrap(), "application/vnd.oci.image.index.v1+json");
    let image = br#"{"schemaVersion": 2, "config": {}, "layers": []}"#;
    assert_eq!(media_type_of(image).unwrap(), "application/vnd.oci.image.manifest.v1+json");
    let docker = br#"{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}"#;
    assert_eq!(media_type_of(docker).unwrap(), "application/vnd.docker.distribution.manifest.v2+json");
    assert!(media_type_of(b"<html>502 Bad Gateway</html>").unwrap_err().contains("not a manifest"));
    assert!(media_type_of(br#"{"errors": []}"#).unwrap_err().contains("missing field `schemaVersion`"));
}
