//! The accept loop. Hand-rolled (instead of `axum::serve`) so the sim can close its listening
//! socket on demand (`refuse`) and drop every connection at once when it "crashes".

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::state::Sim;

/// Serves `app` until the sim dies; then every connection is dropped and `stopped` is set.
pub(crate) async fn serve(sim: Arc<Sim>, listener: TcpListener, app: Router, stopped: watch::Sender<bool>) {
    let addr = listener.local_addr().ok();
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    let mut dead = sim.dead.subscribe();
    let mut refuse = sim.refuse.subscribe();
    loop {
        if *dead.borrow_and_update() {
            break;
        }
        if *refuse.borrow_and_update() {
            if listener.take().is_some() {
                tracing::info!("refusing connections");
            }
        } else if listener.is_none() {
            let Some(addr) = addr else { break };
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    tracing::info!(%addr, "accepting connections again");
                    listener = Some(l);
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot re-bind, retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let accept = async {
            match &listener {
                Some(l) => l.accept().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = accept => {
                if let Some((stream, _)) = accepted {
                    connections.spawn(serve_connection(stream, app.clone(), refuse.clone()));
                }
            }
            changed = refuse.changed() => if changed.is_err() { break },
            changed = dead.changed() => if changed.is_err() { break },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
    stopped.send_replace(true);
}

/// One HTTP/1.1 connection (with WebSocket upgrades); closed gracefully once `refuse` is set.
async fn serve_connection(stream: TcpStream, app: Router, mut refuse: watch::Receiver<bool>) {
    let service = TowerToHyperService::new(app);
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        () = crate::ws::until_set(&mut refuse) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
