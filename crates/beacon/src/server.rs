//! Serving the router on hyper HTTP/1.1 connections, on the current-thread tokio runtime: the
//! accept loop, per-connection limits, one log line per request, and the graceful stop.
//!
//! Limits a small public-facing service needs and `axum::serve` does not expose: a request head
//! must arrive within [`HEADER_READ_TIMEOUT`] (else hyper closes the connection) and fit in
//! [`MAX_HEAD_BYTES`] (else hyper answers 431), at most [`MAX_CONNECTIONS`] are served at once (later ones wait in the
//! kernel's backlog), and a stop waits at most [`DRAIN_TIMEOUT`] for requests in flight.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{service_fn, Service as _};
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

/// Time a client gets to send a complete request head (slow clients can't hold connections).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head accepted (hyper's read buffer; its minimum); beyond it the answer is 431.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Connections served at once.
const MAX_CONNECTIONS: usize = 256;
/// How long a stop waits for requests in flight before returning anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` completes, then closes idle connections, lets
/// requests in flight finish for up to [`DRAIN_TIMEOUT`], and returns.
pub async fn run(listener: TcpListener, router: Router, stop: impl Future<Output = ()>) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    let service = TowerToHyperService::new(router);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut stop = pin!(stop);
    loop {
        let accepted = async {
            let permit = Arc::clone(&permits).acquire_owned().await.expect("the semaphore is never closed");
            (permit, listener.accept().await)
        };
        let (permit, (stream, peer)) = match first(stop.as_mut(), accepted).await {
            Either::Left(()) => break,
            Either::Right((_, Err(e))) => {
                // e.g. EMFILE: back off rather than spin, and keep serving.
                if !is_transient(&e) {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
            Either::Right((permit, Ok(accepted))) => (permit, accepted),
        };
        let service = service.clone();
        let logged = service_fn(move |request: Request<Incoming>| {
            let (method, target, started) = (request.method().clone(), request.uri().clone(), Instant::now());
            let response = service.call(request);
            async move {
                let response = response.await?;
                let status = response.status().as_u16();
                let micros = started.elapsed().as_micros() as u64;
                info!(%peer, %method, path = %target, status, micros, "request");
                Ok::<_, Infallible>(response)
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), logged));
        tokio::spawn(async move {
            // hyper has answered malformed (400) and oversized (431) heads itself before this.
            if let Err(e) = connection.await {
                info!(%peer, error = %e, "connection closed on an error");
            }
            drop(permit);
        });
    }
    drop(listener); // refuse new connections while draining
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        warn!(
            timeout_ms = DRAIN_TIMEOUT.as_millis() as u64,
            "connections still open after the drain timeout, closing them"
        );
    }
}

/// Errors after which the next accept may well succeed (the client gave up before we accepted).
fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted)
}

pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Waits for whichever of two futures completes first (`left` wins a tie); drops the other.
pub async fn first<A: Future, B: Future>(left: A, right: B) -> Either<A::Output, B::Output> {
    let (mut left, mut right) = (pin!(left), pin!(right));
    poll_fn(|cx| {
        if let Poll::Ready(output) = left.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(output));
        }
        right.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// Completes on the first SIGTERM or SIGINT, naming it. The handlers are installed by this call,
/// not when the future is first polled: call it before the server announces itself.
pub fn termination() -> io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        match first(term.recv(), int.recv()).await {
            Either::Left(_) => "SIGTERM",
            Either::Right(_) => "SIGINT",
        }
    })
}
