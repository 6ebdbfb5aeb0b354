//! Listening and serving, with a graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;
use crate::environment::Environment;
use crate::routes;

/// How long a shutdown waits for requests in flight before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running server task.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` and serves `env` on a spawned task.
    pub(crate) async fn spawn(env: Arc<Environment>, addr: SocketAddr) -> Result<Self, Error> {
        let bind_error = |source| Error::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let app = routes::router(env);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    // A dropped sender means the emulator is gone: stop too.
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "emulator server stopped with an error");
            }
        });
        // Debug: the address is `Emulator::base_url`, and `keygate serve`
        // announces its own front address, the one to use.
        tracing::debug!(%local_addr, "emulator listening");
        Ok(Self {
            local_addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops accepting, waits up to a few seconds for requests in flight, then stops.
    pub(crate) async fn shutdown(&mut self) {
        self.signal();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }

    /// Tells the server to stop, without waiting.
    pub(crate) fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal();
    }
}
