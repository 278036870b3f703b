//! The doctor's judgements of version texts, without running any tool.

use super::*;

#[test]
fn a_version_below_the_minimum_is_refused_with_the_upgrade_and_a_newer_one_is_named() {
    let old = ranged(Tool::Buildx, Version(0, 12, 1), pages::BUILDX);
    let problem = old.problem.expect("below the minimum");
    assert_eq!(
        problem.what,
        "buildx 0.12.1 is older than the minimum 0.13.0 (rewrite-timestamp (reproducible layers) needs it)"
    );
    assert!(
        problem.fix.starts_with("upgrade buildx to 0.13.0 or newer (tested up to 0.29.1): https://"),
        "{}",
        problem.fix
    );
    let ok = ranged(Tool::Engine, Version(28, 5, 2), pages::DOCKER);
    assert_eq!((ok.problem.is_none(), ok.detail.as_str()), (true, "version 28.5.2 (supported 26.1.0..28.5.2)"));
    let newer = ranged(Tool::Cosign, Version(4, 0, 0), pages::COSIGN);
    assert!(
        newer.problem.is_none() && newer.detail.contains("newer than the newest tested, 3.1.1"),
        "{}",
        newer.detail
    );
}

#[test]
fn curl_is_judged_by_its_version_its_library_s_and_https() {
    // Debian bookworm's, trixie's and Ubuntu noble's curl pass.
    let bookworm = "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 OpenSSL/3.0.17 zlib/1.2.13 nghttp2/1.52.0\n\
                    Release-Date: 2023-02-20, security patched: 7.88.1-10+deb12u14\n\
                    Protocols: dict file ftp ftps gopher gophers http https imap imaps\n\
                    Features: alt-svc AsynchDNS HSTS HTTP2 HTTPS-proxy IPv6 Largefile libz SSL\n";
    let ok = curl_check(bookworm);
    assert!(ok.problem.is_none(), "{:?}", ok.problem);
    assert_eq!(ok.detail, "version 7.88.1 (minimum 7.58.0; sends the registry requests)");
    for passes in [
        "curl 8.14.1 (x86_64-pc-linux-gnu) libcurl/8.14.1 OpenSSL/3.5.1\nProtocols: http https\n",
        "curl 8.5.0 (x86_64-pc-linux-gnu) libcurl/8.5.0 OpenSSL/3.0.13\nProtocols: http https\n",
        "curl 7.58.0 (x86_64-pc-linux-gnu) libcurl/7.58.0 OpenSSL/1.1.1\nProtocols: http https\n",
        "curl 8.7.1 (x86_64-apple-darwin23.0) libcurl/8.7.1 (SecureTransport) LibreSSL/3.3.6\n",
    ] {
        assert!(curl_check(passes).problem.is_none(), "{passes}");
    }
    // Older than the minimum: the upgrade, with the minimum named.
    let old = curl_check("curl 7.52.1 (x86_64-pc-linux-gnu) libcurl/7.52.1 OpenSSL/1.0.2u\nProtocols: http https\n");
    let problem = old.problem.expect("below the minimum");
    assert_eq!(
        problem.what,
        "curl 7.52.1 is older than the minimum 7.58.0 (the first that keeps a registry's token from the other host \
         a redirect leads to)"
    );
    assert_eq!(problem.fix, "upgrade curl to 7.58.0 or newer: https://curl.se/download.html");
    assert!(old.missing.is_none(), "too old is not missing");
    // A new tool over an old library: the library decides what a redirect gets.
    let mixed = curl_check("curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.52.0\nProtocols: http https\n");
    let what = mixed.problem.expect("an old library").what;
    assert!(what.starts_with("curl 7.88.1 (libcurl 7.52.0) is older than the minimum 7.58.0"), "{what}");
    // Without TLS, or saying no version.
    let plain = curl_check("curl 8.5.0 (x86_64-pc-linux-gnu) libcurl/8.5.0\nProtocols: file http\n");
    assert!(plain.problem.unwrap().what.contains("built without HTTPS"));
    assert!(curl_check("curl (devel)\n").problem.unwrap().what.contains("no version in it"));
}
