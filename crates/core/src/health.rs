//! Readiness of what a server depends on, checked by the health routes without those routes
//! knowing how each dependency is reached.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type Check = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync;

/// A named readiness check (e.g. "can the database answer a query?"). Cheap to clone.
#[derive(Clone)]
pub struct Probe(Arc<Check>);

impl Probe {
    /// A probe that runs `check` each time it is asked.
    pub fn new<F, Fut>(check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self(Arc::new(move || Box::pin(check())))
    }

    /// Runs the check; `Err` says why the dependency is not ready.
    pub async fn check(&self) -> Result<(), String> {
        (self.0)().await
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}
