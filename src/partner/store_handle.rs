//! The durable store, called from async code: every call runs on tokio's blocking pool so SQLite
//! never stalls a runtime worker.

use crate::error::HubError;
use crate::store::{Store, StoreError};
use std::sync::Arc;

#[derive(Clone)]
pub struct StoreHandle {
    store: Arc<dyn Store>,
}

impl StoreHandle {
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreHandle { store }
    }

    /// Run `f` against the store off the async workers; store errors become protocol errors.
    pub async fn call<T, F>(&self, f: F) -> Result<T, HubError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
            Ok(result) => result.map_err(store_error),
            Err(join) => Err(HubError::internal(format!("store task failed: {join}"))),
        }
    }
}

pub fn store_error(error: StoreError) -> HubError {
    let code = error.code();
    if code == stagehand_protocol::ErrorCode::Internal {
        tracing::error!(%error, "store failure");
    }
    HubError { code, message: error.to_string(), retry_after_ms: None }
}
