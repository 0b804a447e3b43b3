//! A background thread that flushes a shared [`Store`] on request, so the thread that appends
//! (the sidecar's ingest, holding Python's GIL) never waits for a commit and sync.
//!
//! Requests carry the caller's `now_ms` (the worker reads no clock); requests that queue up
//! while a flush runs are served by one flush with the latest `now_ms`. A failed flush keeps
//! the samples buffered (see [`Store::flush`]) and is reported by the next [`FlushWorker::request`].

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::Store;
use crate::error::{CoreError, Result};

pub struct FlushWorker {
    tx: Option<Sender<i64>>,
    handle: Option<JoinHandle<()>>,
    failure: Arc<Mutex<Option<CoreError>>>,
}

fn run(store: &Store, rx: &Receiver<i64>, failure: &Mutex<Option<CoreError>>) {
    while let Ok(mut now_ms) = rx.recv() {
        while let Ok(later) = rx.try_recv() {
            now_ms = now_ms.max(later);
        }
        if let Err(e) = store.flush(now_ms) {
            if let Ok(mut slot) = failure.lock() {
                *slot = Some(e);
            }
        }
    }
}

impl FlushWorker {
    pub fn spawn(store: Arc<Store>) -> Result<FlushWorker> {
        let (tx, rx) = mpsc::channel();
        let failure = Arc::new(Mutex::new(None));
        let shared = Arc::clone(&failure);
        let handle = std::thread::Builder::new()
            .name("statcore-flush".into())
            .spawn(move || run(&store, &rx, &shared))
            .map_err(|e| CoreError::Store(format!("cannot start the flush thread: {e}")))?;
        Ok(FlushWorker { tx: Some(tx), handle: Some(handle), failure })
    }

    /// Asks for a flush at `now_ms` and returns at once. Fails with the error of the last
    /// background flush if it failed (reported once).
    pub fn request(&self, now_ms: i64) -> Result<()> {
        if let Some(e) = self.failure.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(e);
        }
        let tx = self.tx.as_ref().ok_or_else(|| CoreError::Store("flush thread stopped".into()))?;
        tx.send(now_ms).map_err(|_| CoreError::Store("flush thread stopped".into()))
    }

    /// Finishes the queued flushes and joins the thread.
    pub fn stop(&mut self) {
        self.tx.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for FlushWorker {
    fn drop(&mut self) {
        self.stop();
    }
}
