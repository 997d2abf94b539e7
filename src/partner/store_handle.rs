//! The durable store, called from async code: one writer thread and a few reader threads, each lane
//! fed by a bounded queue.
//!
//! SQLite has one writer at a time, so every write transaction runs on one thread that owns the
//! writable connection; reads run beside it on read-only connections (WAL). Async callers queue a
//! job and await its answer. Nothing here can grow with load: the threads are fixed, and a full
//! queue answers `unavailable` at once instead of parking another thread.
//!
//! After a write commits, and still on the writer thread, the notifications it wrote are handed to
//! the `on_commit` hook (the hub pushes them to open connections). So pushes happen only after the
//! commit, in commit order — the order of notification ids — and before the caller hears back.

use crate::error::{HubError, HubResult};
use crate::store::{Notified, SqliteStore, Store, StoreError, Tx};
use crossbeam_channel::{Sender, TrySendError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Called on the writer thread with the notifications of each committed write. Must not block.
pub type OnCommit = Arc<dyn Fn(&[Notified]) + Send + Sync>;

/// Sizes of the store's lanes.
#[derive(Debug, Clone, Copy)]
pub struct Lanes {
    /// Jobs each lane may hold waiting for its threads (`store_queue`).
    pub queue: usize,
    /// Read-only connections, one thread each (`store_readers`).
    pub readers: usize,
}

/// A handle to the store's threads. Cheap to clone; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct StoreHandle {
    writer: Arc<Lane>,
    readers: Arc<Lane>,
    on_commit: OnCommit,
}

type Job = Box<dyn FnOnce(&SqliteStore) + Send>;

/// A bounded queue and the threads that serve it, each with its own connection.
struct Lane {
    jobs: Sender<Job>,
}

impl Lane {
    fn start(name: &str, stores: Vec<SqliteStore>, queue: usize) -> Result<Lane, StoreError> {
        let (jobs, inbox) = crossbeam_channel::bounded::<Job>(queue.max(1));
        for (index, store) in stores.into_iter().enumerate() {
            let inbox = inbox.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || {
                    for job in inbox {
                        // A panicking job drops its answer channel (the caller gets `internal`) and
                        // rolls its transaction back; the thread and its connection carry on.
                        if catch_unwind(AssertUnwindSafe(|| job(&store))).is_err() {
                            tracing::error!("a store job panicked");
                        }
                    }
                })
                .map_err(|e| StoreError::Setup(format!("cannot start a store thread: {e}")))?;
        }
        Ok(Lane { jobs })
    }

    /// Queue `f` for this lane's threads and wait for its result; `unavailable` at once if the
    /// queue is full.
    async fn run<T, F>(&self, f: F) -> HubResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = answer.send(f(store));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HubError::unavailable("the store is busy; retry later")),
            Err(TrySendError::Disconnected(_)) => return Err(HubError::unavailable("the store is shut down")),
        }
        match result.await {
            Ok(result) => result.map_err(store_error),
            Err(_) => Err(HubError::internal(INTERNAL)),
        }
    }
}

impl StoreHandle {
    /// Move `store` onto a new writer thread, open `lanes.readers` read-only connections beside it,
    /// and push committed notifications through `on_commit`.
    pub fn start(store: SqliteStore, lanes: Lanes, on_commit: OnCommit) -> Result<Self, StoreError> {
        let readers = (0..lanes.readers.max(1)).map(|_| store.open_reader()).collect::<Result<Vec<_>, _>>()?;
        Ok(StoreHandle {
            readers: Arc::new(Lane::start("store-reader", readers, lanes.queue)?),
            writer: Arc::new(Lane::start("store-writer", vec![store], lanes.queue)?),
            on_commit,
        })
    }

    /// Run a read on a read-only connection. Store errors become protocol errors.
    pub async fn call<T, F>(&self, f: F) -> HubResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.run(move |store| f(store)).await
    }

    /// Run `f` as one write transaction on the writer thread. `Ok` means committed (and durable);
    /// an error means nothing `f` wrote was kept. The notifications it wrote are pushed before this
    /// returns.
    pub async fn write<T, F>(&self, f: F) -> HubResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let on_commit = self.on_commit.clone();
        self.writer
            .run(move |store| {
                let written = store.write(f)?;
                // Committed: whatever happens while pushing, the caller must hear `Ok`.
                if catch_unwind(AssertUnwindSafe(|| on_commit(&written.notified))).is_err() {
                    tracing::error!("pushing committed notifications panicked");
                }
                Ok(written.value)
            })
            .await
    }

    /// Writes waiting in the writer's queue (not counting the one running).
    pub fn queued_writes(&self) -> usize {
        self.writer.jobs.len()
    }
}

/// What a client is told about a failure that is the server's, whatever its cause.
const INTERNAL: &str = "internal error";

/// A store error as a protocol error. The caller's errors keep their message; the server's are
/// logged with their detail and reach the client only as a stable, generic message.
pub fn store_error(error: StoreError) -> HubError {
    let code = error.code();
    if let StoreError::SoldOut { message, remaining } = error {
        return HubError::sold_out(message, remaining);
    }
    match code {
        stagehand_protocol::ErrorCode::Internal => {
            tracing::error!(%error, "store failure");
            HubError::internal(INTERNAL)
        }
        stagehand_protocol::ErrorCode::Unavailable if matches!(error, StoreError::Full(_)) => {
            HubError::unavailable(error.to_string())
        }
        stagehand_protocol::ErrorCode::Unavailable => {
            tracing::warn!(%error, "store busy");
            HubError::unavailable("the store is busy; retry later")
        }
        _ => HubError::new(code, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewRequest;
    use stagehand_protocol::client::NewLink;
    use stagehand_protocol::types::Scope;
    use stagehand_protocol::ErrorCode;

    const T0: u64 = 1_700_000_000_000;

    fn request(creator: &str) -> NewRequest {
        NewRequest {
            creator_id: creator.into(),
            agency_id: "a1".into(),
            agency_name: "a1 Ltd".into(),
            requested_by: "s1".into(),
            link: Some(NewLink { agreement_ends_at: T0 + 1_000_000 }),
            live_access: true,
            scopes: Scope::ALL.to_vec(),
        }
    }

    /// Wait (without a fixed sleep) until `condition` holds.
    async fn until(mut condition: impl FnMut() -> bool) {
        while !condition() {
            tokio::task::yield_now().await;
            std::thread::yield_now();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_write_queue_answers_unavailable_at_once_and_the_rest_completes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let handle = StoreHandle::start(store, Lanes { queue: 3, readers: 1 }, Arc::new(|_: &[Notified]| {})).unwrap();

        // The writer thread runs a job that waits for the test: the writer is busy, deterministically.
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = handle.clone();
        let first = tokio::spawn(async move {
            blocker
                .write(move |tx| {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    tx.create_request(request("c0"), T0)
                })
                .await
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap()).await.unwrap();

        let write = |creator: String| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.write(move |tx| tx.create_request(request(&creator), T0)).await })
        };
        let queued: Vec<_> = (1..=3).map(|i| write(format!("c{i}"))).collect();
        until(|| handle.queued_writes() == 3).await;

        // The queue is full: refused at once, with the stable code, and no thread is parked for it.
        let refused = handle.write(|tx| tx.create_request(request("c9"), T0)).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unavailable);
        // Reads have their own lane and still work.
        assert!(handle.call(|s| s.links(&Default::default(), T0)).await.unwrap().is_empty());

        release.send(()).unwrap();
        first.await.unwrap().expect("the blocked write completes");
        for job in queued {
            job.await.unwrap().expect("every queued write completes");
        }
        let links = handle.call(|s| s.links(&Default::default(), T0)).await.unwrap();
        assert_eq!(links.len(), 4, "the refused write changed nothing");
    }
}
