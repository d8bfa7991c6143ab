//! The accept loop: HTTP/1.1 connections served by hyper under a cap on how many are
//! open and a timeout for each request's head, so that slow or idle clients cannot
//! hold the service's sockets, and a graceful shutdown that finishes requests in flight.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// How long accepting pauses after an error such as running out of file descriptors:
/// long enough not to spin, short enough to resume soon after a connection closes.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The limits the accept loop applies.
pub(crate) struct ConnectionLimits {
    /// Connections open at once; at the cap, no more are accepted until one closes.
    pub(crate) max_connections: usize,
    /// Longest a request's head may take to arrive, idle time on a kept-alive
    /// connection included; the connection is closed after.
    pub(crate) header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and
/// waits for the open connections to finish their requests.
///
/// # Errors
/// None today: accept errors are logged and retried. The `Result` leaves room for
/// errors that end serving.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let open = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new clients wait in the listen backlog until an
        // open connection closes (the header timeout closes slow and idle ones).
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = open.clone().acquire_owned() => slot
                .map_err(|_| Error::io("serving failed", io::Error::other("connection limit closed")))?,
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors or memory: pause instead of spinning, keeping
                // the connections already open served.
                tracing::warn!(error = %e, "cannot accept a connection; pausing");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let connection = graceful.watch(
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone())),
        );
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Header timeouts, clients gone mid-request: the client's business.
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one connection that the next accept does not share.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
