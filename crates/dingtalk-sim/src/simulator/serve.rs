//! The simulator's HTTP server: axum's router on hyper, with one setting `axum::serve` does not
//! expose.
//!
//! A client may hang up as soon as its request is written: a gateway that died right after its
//! body left. DingTalk then has the whole request, and whether it acts on it is not documented
//! (unverified); the front ends that usually sit before such APIs pass a request they have
//! whole on to the service behind them, and the service does not learn that the client left
//! until it answers. hyper left to its defaults instead drops the request's handler when it
//! reads the end of the connection while the handler still runs (`http1::Builder::half_close`,
//! "default is false", hyper 1.x docs), so a reply whose body came together with the hang-up
//! would never be recorded: a message lost by the simulator, not by the gateway. With
//! half-closes allowed, the handler of a whole request runs to its end; a request cut short
//! still fails, reading its body.

use std::io;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a shutdown waits for the connections still open to finish.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` turns true, then lets open connections end.
pub(super) async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().half_close(true);
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|down| *down) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(error) => {
                pause_after(error).await;
                continue;
            }
        };
        // Small responses must not wait for the client's delayed ACK (Nagle): real DingTalk
        // answers at once, and a 40 ms stall per call would distort every latency measured.
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "simulator connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}

/// A failed accept: a connection that went away before it was taken costs nothing; anything
/// else (out of file descriptors) is logged and waited out, as hyper's own server did.
async fn pause_after(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "simulator cannot accept connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
