use super::*;

const POLICY: Policy = Policy { attempts: 5, max_wait: Duration::from_secs(30), budget: Duration::from_secs(300) };

/// What the tools printed through the test suite's faulty registry front (tests/support/flaky_front.rs)
/// and in their trackers, and what each means (`true`: transient).
const SEEN: &[(&str, Option<(bool, &str)>)] = &[
    // cosign 2.5's ping of a plain-HTTP registry: the HTTPS attempt, then the HTTP one's 429.
    (
        "accessing entity: Get \"https://127.0.0.1:33985/v2/\": http: server gave HTTP response to HTTPS client; GET http://127.0.0.1:33985/v2/: TOOMANYREQUESTS: too many requests",
        Some((true, "429 Too Many Requests")),
    ),
    // The same HTTPS attempt alone is TLS spoken to a plain-HTTP port: never retried.
    (
        "Get \"https://127.0.0.1:33985/v2/\": http: server gave HTTP response to HTTPS client",
        Some((false, "TLS verification failed")),
    ),
    // cosign 2.5 signing through the front, a 503 on an upload's PATCH (CI, 2026-12-02).
    (
        "signing digest: PATCH http://127.0.0.1:36679/v2/acme/beacon/blobs/uploads/9f75e7a6?_state=REDACTED: UNAVAILABLE: service unavailable",
        Some((true, "503 Service Unavailable")),
    ),
    // Through the front, 2026-12-02: docker 26.1, skopeo 1.9, cosign 2.5.
    (
        "unexpected status from HEAD request to http://127.0.0.1:37111/v2/acme/small/manifests/1: 502 Bad Gateway",
        Some((true, "502 Bad Gateway")),
    ),
    (
        "failed commit on ref \"manifest-sha256:8ffb28\": unexpected status from PUT request to http://127.0.0.1:45003/v2/acme/small/manifests/1: 502 Bad Gateway",
        Some((true, "502 Bad Gateway")),
    ),
    (
        "copying image 1/2 from manifest list: trying to reuse blob sha256:18d925 at destination: failed to read from destination repository acme/small: 503 (Service Unavailable)",
        Some((true, "503 Service Unavailable")),
    ),
    (
        "Error parsing image name \"docker://127.0.0.1:42817/acme/small:1\": reading manifest 1 in 127.0.0.1:42817/acme/small: toomanyrequests",
        Some((true, "429 Too Many Requests")),
    ),
    (
        "Error: GET http://127.0.0.1:42817/v2/acme/small/manifests/1: TOOMANYREQUESTS: too many requests",
        Some((true, "429 Too Many Requests")),
    ),
    (
        "unexpected status from PUT request to http://127.0.0.1:46173/v2/acme/small/manifests/1: 429 Too Many Requests",
        Some((true, "429 Too Many Requests")),
    ),
    (
        "failed to read from destination repository acme/small: 429 (Too Many Requests)",
        Some((true, "429 Too Many Requests")),
    ),
    (
        "failed commit on ref \"manifest-sha256:8ffb28\": failed to do request: Put \"https://127.0.0.1:37939/v2/acme/small/manifests/1\": readfrom tcp 127.0.0.1:60858->127.0.0.1:37939: write tcp 127.0.0.1:60858->127.0.0.1:37939: use of closed network connection",
        Some((true, "connection reset")),
    ),
    (
        "Error: Get \"http://127.0.0.1:36103/v2/acme/small/manifests/1\": read tcp 127.0.0.1:49686->127.0.0.1:36103: read: connection reset by peer",
        Some((true, "connection reset")),
    ),
    ("reading manifest 1 in 127.0.0.1:32865/acme/small: unauthorized", Some((false, "401 Unauthorized"))),
    ("failed commit on ref \"manifest-sha256:b03449\": authorization failed: no basic auth credentials", Some((false, "401 Unauthorized"))),
    (
        "Error: GET http://127.0.0.1:32865/v2/acme/small/manifests/1: UNAUTHORIZED: authentication required",
        Some((false, "401 Unauthorized")),
    ),
    (
        "failed commit on ref \"manifest-sha256:8ffb28\": unexpected status from PUT request to http://127.0.0.1:35589/v2/acme/small/manifests/1: 404 Not Found",
        Some((false, "404 Not Found")),
    ),
    (
        "unexpected status from PUT request to http://127.0.0.1:38297/v2/acme/small/manifests/1: 400 Bad Request",
        Some((false, "400 Bad Request")),
    ),
    ("failed to read from destination repository acme/small: 400 (Bad Request)", Some((false, "400 Bad Request"))),
    (
        "Error: GET http://127.0.0.1:36207/v2/acme/small/manifests/1: MANIFEST_INVALID: manifest invalid; map[]",
        Some((false, "400 MANIFEST_INVALID")),
    ),
    ("reading manifest 1 in 127.0.0.1:38255/acme/small: name unknown", None),
    // From the tools' trackers and the issue.
    // docker push (dockerd 26), a blob HEAD answered 502.
    (
        "unexpected status from HEAD request to http://127.0.0.1:41234/v2/acme/beacon/blobs/sha256:5f70bf18a08600: 502 Bad Gateway",
        Some((true, "502 Bad Gateway")),
    ),
    ("received unexpected HTTP status: 503 Service Unavailable", Some((true, "503 Service Unavailable"))),
    ("toomanyrequests: You have reached your pull rate limit.", Some((true, "429 Too Many Requests"))),
    (
        "Put \"http://127.0.0.1:41234/v2/acme/beacon/manifests/1.0.0\": read tcp 127.0.0.1:50872->127.0.0.1:41234: read: connection reset by peer",
        Some((true, "connection reset")),
    ),
    ("denied: requested access to the resource is denied", Some((false, "403 denied"))),
    ("unauthorized: authentication required", Some((false, "401 Unauthorized"))),
    ("manifest invalid: manifest invalid", Some((false, "400 MANIFEST_INVALID"))),
    // skopeo (containers/image).
    (
        "time=\"2026-12-02T01:10:00Z\" level=fatal msg=\"Error parsing image name \\\"docker://127.0.0.1:41234/acme/beacon:1\\\": reading manifest 1 in 127.0.0.1:41234/acme/beacon: received unexpected HTTP status: 502 Bad Gateway\"",
        Some((true, "502 Bad Gateway")),
    ),
    ("pinging container registry 127.0.0.1:41234: Get \"http://127.0.0.1:41234/v2/\": EOF", Some((true, "connection closed"))),
    (
        "pinging container registry 127.0.0.1:1: Get \"https://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused",
        Some((true, "connection refused")),
    ),
    (
        "pinging container registry ghcr.io: Get \"https://ghcr.io/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
        Some((false, "TLS verification failed")),
    ),
    ("requested access to the resource is denied", Some((false, "403 denied"))),
    // cosign and trivy (go-containerregistry).
    (
        "Error: signing [127.0.0.1:41234/acme/beacon@sha256:ab]: GET http://127.0.0.1:41234/v2/acme/beacon/manifests/sha256-ab.sig: unexpected status code 429 Too Many Requests: ",
        Some((true, "429 Too Many Requests")),
    ),
    (
        "PUT http://127.0.0.1:41234/v2/acme/beacon/manifests/sha256-ab.sig: MANIFEST_INVALID: manifest invalid; map[]",
        Some((false, "400 MANIFEST_INVALID")),
    ),
    ("GET https://ghcr.io/token: TOOMANYREQUESTS: retry-after: 4.2s", Some((true, "429 Too Many Requests"))),
    ("PUT http://127.0.0.1:41234/v2/x/manifests/1: unexpected status code 404 Not Found", Some((false, "404 Not Found"))),
    ("no matching signatures: invalid signature when validating ASN.1 encoded signature", None),
    ("Error: no signatures found", None),
];

#[test]
fn the_tools_messages_are_classified_in_one_table() {
    for (said, meaning) in SEEN {
        let expected = match meaning {
            Some((true, status)) => Failure::Transient((*status).into()),
            Some((false, status)) => Failure::Permanent((*status).into()),
            None => Failure::Unknown,
        };
        assert_eq!(classify(said), expected, "{said}");
    }
}

#[test]
fn a_permanent_word_wins_over_a_transient_one() {
    let said = "503 Service Unavailable (retried)\ndenied: requested access to the resource is denied";
    assert_eq!(classify(said), Failure::Permanent("403 denied".into()));
}

#[test]
fn retry_after_is_read_when_the_tool_passes_it_on() {
    assert_eq!(retry_after("TOOMANYREQUESTS: Retry-After: 7"), Some(Duration::from_secs(7)));
    assert_eq!(retry_after("please retry after 12s"), Some(Duration::from_secs(12)));
    assert_eq!(retry_after("502 Bad Gateway"), None);
}

#[test]
fn waits_double_with_jitter_and_stay_bounded() {
    for seed in [0, 1, 42, u64::MAX] {
        for failures in 1..=12 {
            let ceiling = (BASE_WAIT * (1 << (failures - 1))).min(POLICY.max_wait);
            let w = wait(&POLICY, failures, None, seed);
            assert!(w >= ceiling / 2 && w <= ceiling, "{failures} failures, seed {seed}: {w:?}");
        }
    }
    assert_eq!(wait(&POLICY, 3, None, 7), wait(&POLICY, 3, None, 7), "the same seed, the same wait");
    let spread: std::collections::BTreeSet<Duration> = (0..20).map(|s| wait(&POLICY, 4, None, s)).collect();
    assert!(spread.len() > 10, "different seeds spread out: {spread:?}");
    assert_eq!(wait(&POLICY, 1_000, None, 3).max(POLICY.max_wait), POLICY.max_wait, "no overflow");
}

#[test]
fn retry_after_is_honoured_up_to_max_wait() {
    assert!(wait(&POLICY, 1, Some(Duration::from_secs(9)), 5) == Duration::from_secs(9));
    assert_eq!(wait(&POLICY, 1, Some(Duration::from_secs(3600)), 5), POLICY.max_wait);
    assert!(wait(&POLICY, 5, Some(Duration::from_millis(1)), 5) >= Duration::from_secs(8), "never shorter");
}

#[test]
fn attempts_and_the_budget_end_the_retries() {
    let second = Duration::from_secs(1);
    assert_eq!(next_wait(&POLICY, 1, Duration::ZERO, second), Some(second));
    assert_eq!(next_wait(&POLICY, 4, Duration::ZERO, second), Some(second));
    assert_eq!(next_wait(&POLICY, 5, Duration::ZERO, second), None, "5 attempts made of 5");
    assert_eq!(next_wait(&POLICY, 1, Duration::from_secs(299), second * 2), None, "over the budget");
    let once = Policy { attempts: 1, ..POLICY };
    assert_eq!(next_wait(&once, 1, Duration::ZERO, second), None);
}

#[test]
fn the_retry_line_and_the_final_error_name_everything() {
    let a = Attempt {
        step: "push-versioned",
        operation: "docker push 127.0.0.1:5000/acme/beacon:1.0.0",
        registry: "127.0.0.1:5000",
        status: "503 Service Unavailable",
        made: 2,
    };
    let line = retry_line(&a, &POLICY, Duration::from_millis(1500));
    assert_eq!(
        line,
        "    retry: push-versioned docker push 127.0.0.1:5000/acme/beacon:1.0.0 at 127.0.0.1:5000: \
         503 Service Unavailable (attempt 2 of 5), next in 1.5s"
    );
    let spent = Attempt { made: 5, ..a };
    let error = gave_up(&spent, &POLICY, Duration::from_secs(20));
    for part in ["docker push", "127.0.0.1:5000", "503 Service Unavailable", "after 5 attempts", "all 5 attempts"] {
        assert!(error.contains(part), "{part}: {error}");
    }
    let budget = gave_up(&Attempt { made: 3, ..spent }, &POLICY, Duration::from_secs(299));
    assert!(budget.contains("budget (4m 59s waited of 5m)"), "{budget}");
}

#[test]
fn an_answer_read_by_the_client_is_retried_by_its_status_and_a_lost_connection_by_curls_exit() {
    for status in [408, 429, 500, 502, 503, 504] {
        assert!(matches!(classify_status(status), Failure::Transient(_)), "{status}");
    }
    assert_eq!(classify_status(503), Failure::Transient("503 Service Unavailable".into()));
    for status in [400, 401, 403, 404, 405, 409, 501] {
        assert!(matches!(classify_status(status), Failure::Permanent(_)), "{status}");
    }
    assert_eq!(classify_status(200), Failure::Unknown);
    // curl: refused, timed out, empty reply, send/receive failure (a reset).
    assert_eq!(classify_curl(7), Failure::Transient("connection refused".into()));
    assert_eq!(classify_curl(56), Failure::Transient("connection reset".into()));
    assert_eq!(classify_curl(52), Failure::Transient("connection closed".into()));
    assert_eq!(classify_curl(28), Failure::Transient("timed out".into()));
    assert_eq!(classify_curl(60), Failure::Permanent("TLS verification failed".into()));
    assert_eq!(classify_curl(6), Failure::Permanent("the host does not resolve".into()));
    assert_eq!(classify_curl(2), Failure::Unknown);
}

/// A pause as `tools::retry` makes it, without the sleep: the policy's waits against one budget
/// for every operation it is given to, the attempts of each counted.
fn pauses(policy: Policy) -> impl FnMut(u32, &Transient) -> Result<(), String> {
    let mut waited = Duration::ZERO;
    move |made, failed| {
        let a = Attempt {
            step: "sign",
            operation: "cosign verify r@sha256:1",
            registry: "r",
            status: &failed.status,
            made,
        };
        let wait = wait(&policy, made, failed.retry_after, 7);
        let wait = next_wait(&policy, made, waited, wait).ok_or_else(|| gave_up(&a, &policy, waited))?;
        waited += wait;
        Ok(())
    }
}

fn busy() -> Transient {
    Transient::of_output("GET http://r/v2/x/manifests/1: unexpected status code 503 Service Unavailable").unwrap()
}

#[test]
fn the_one_loop_repeats_only_what_is_transient() {
    let mut outcomes = vec![Attempted::Failed(busy()), Attempted::Failed(busy()), Attempted::Done(7)].into_iter();
    let mut made = Vec::new();
    let value = repeat(
        || Ok(outcomes.next().unwrap()),
        |n, failed| {
            made.push((n, failed.status.clone()));
            Ok(())
        },
    );
    assert_eq!(value.unwrap(), 7);
    assert_eq!(made, [(1, "503 Service Unavailable".to_owned()), (2, "503 Service Unavailable".to_owned())]);
    // A failure retrying cannot fix is the attempt's outcome, for the caller to read: never repeated.
    let mut attempts = 0;
    let refused: anyhow::Result<Result<(), &str>> = repeat(
        || {
            attempts += 1;
            Ok(Attempted::Done(Err("denied")))
        },
        |_, _| panic!("nothing to wait for"),
    );
    assert_eq!((refused.unwrap(), attempts), (Err("denied"), 1));
    // An attempt that cannot run at all stops the loop at once.
    let broken: anyhow::Result<()> = repeat(|| Err(anyhow::anyhow!("cannot run cosign")), |_, _| panic!("no wait"));
    assert_eq!(broken.unwrap_err().to_string(), "cannot run cosign");
}

#[test]
fn giving_up_names_the_reason_and_the_last_words() {
    let error = repeat(|| Ok(Attempted::<()>::Failed(busy())), pauses(POLICY)).unwrap_err().to_string();
    assert!(error.contains("after 5 attempts: all 5 attempts failed"), "{error}");
    assert!(
        error.ends_with(
            "the last attempt said: GET http://r/v2/x/manifests/1: unexpected status code 503 Service Unavailable"
        ),
        "{error}"
    );
}

#[test]
fn a_failed_tool_run_is_transient_only_by_the_table_and_a_hidden_failure_by_what_is_listed() {
    let said = "pulling\n\n  Error: GET http://r/v2/x/manifests/1: TOOMANYREQUESTS: Retry-After: 4  \n";
    let transient = Transient::of_output(said).unwrap();
    assert_eq!(transient.status, "429 Too Many Requests");
    assert_eq!(transient.retry_after, Some(Duration::from_secs(4)));
    assert_eq!(
        transient.last,
        "the last attempt said: pulling\nError: GET http://r/v2/x/manifests/1: TOOMANYREQUESTS: Retry-After: 4"
    );
    assert_eq!(Transient::of_output("denied: requested access to the resource is denied"), None);
    assert_eq!(Transient::of_output("Error: no signatures found"), None, "unknown: cosign 3's words alone");
    let hidden = Transient::hidden("cosign found no signature that the registry lists", "no signatures found");
    assert_eq!((hidden.retry_after, hidden.last.as_str()), (None, "the last attempt: no signatures found"));
    assert_eq!(last_lines("a\n\n b \nc\n", 2), "b\nc");
}

/// The worst case of one signature check on cosign 3 (docs/src/retries.md): its verification is one
/// retried operation of at most 2 cosign runs an attempt (`verify`, then `tree` when it failed), and
/// writing it one of at most 4 (`sign`, the verification of its kind together, then its own
/// `verify` and `tree`); both give up after the policy's attempts,
/// and every wait counts against the one budget.
#[test]
fn the_worst_case_of_a_signature_check_is_bounded_by_the_one_policy() {
    let mut runs = 0;
    let mut pause = pauses(POLICY);
    let mut hidden = |per_attempt: u32| {
        runs += per_attempt;
        Ok(Attempted::<()>::Failed(Transient::hidden("cosign found no signature that the registry lists", "")))
    };
    assert!(repeat(|| hidden(2), &mut pause).is_err(), "the verification gives up");
    assert!(repeat(|| hidden(4), &mut pause).is_err(), "writing gives up");
    assert_eq!(runs, 5 * 2 + 5 * 4, "30 cosign runs, against 920 with the loops nested");
    // The budget is the run's: a second operation gets only what the first left.
    let tight = Policy { attempts: 20, max_wait: Duration::from_secs(1), budget: Duration::from_secs(5) };
    let mut pause = pauses(tight);
    let (mut first, mut second) = (0, 0);
    let _ = repeat(
        || {
            first += 1;
            Ok(Attempted::<()>::Failed(busy()))
        },
        &mut pause,
    );
    let _ = repeat(
        || {
            second += 1;
            Ok(Attempted::<()>::Failed(busy()))
        },
        &mut pause,
    );
    assert!(first >= 6 && second <= 2, "one budget for both: {first} then {second} attempts");
}
