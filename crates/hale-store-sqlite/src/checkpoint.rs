//! The WAL checkpointer: a thread of its own that copies committed WAL frames into the database
//! file.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so the writer
//! thread, and every caller waiting on that group, would pay for it. The writer turns it off
//! (`wal_autocheckpoint = 0`) and this thread checkpoints in the background instead, on the
//! other core. A `PASSIVE` checkpoint never blocks the writer or readers.
//!
//! Under writes that never pause, a passive checkpoint never copies the last frames, SQLite only
//! starts the WAL over after a checkpoint that copied everything, and a checkpoint on this
//! thread that waited for the writer would starve: the writer takes its lock back after every
//! commit. So the writer itself empties the WAL when it passes a limit (`write::Writer`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hale_store::StoreError;
use parking_lot::Mutex;
use rusqlite::Connection;

use crate::{backend, open_connection};

/// How often the checkpointer looks at the WAL.
const INTERVAL: Duration = Duration::from_millis(200);

pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path, synchronous_full: bool) -> Result<Self, StoreError> {
        let conn = open_connection(path, true, synchronous_full)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_in = stop.clone();
        let thread = std::thread::Builder::new()
            .name("hale-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stop_in))
            .map_err(|e| StoreError::Backend(format!("starting the checkpointer: {e}")))?;
        Ok(Checkpointer {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread; the final checkpoint is the caller's.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(INTERVAL);
        if let Err(e) = checkpoint(conn, "PASSIVE") {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// Runs one checkpoint of the given mode.
pub(crate) fn checkpoint(conn: &Connection, mode: &str) -> Result<(), StoreError> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
        .map_err(backend)
}
