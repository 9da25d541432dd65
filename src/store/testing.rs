//! Storage backends for tests: in memory shared by every open, and a
//! wrapper that fails writes on demand.

use std::io;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redb::backends::{FileBackend, InMemoryBackend};
use redb::{BackendError, Database, StorageBackend};

use super::Open;

/// redb's in-memory backend, shared by every open of it (a reopen sees
/// what was committed).
#[derive(Debug, Default, Clone)]
pub(crate) struct Memory(Arc<InMemoryBackend>);

impl StorageBackend for Memory {
    fn len(&self) -> Result<u64, io::Error> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.0.write(offset, data)
    }
}

/// A redb storage backend (in memory by default) whose writes, resizes and
/// syncs fail while `fail` is set.
#[derive(Debug, Default)]
pub(crate) struct Flaky<B = Memory> {
    pub(crate) inner: B,
    pub(crate) fail: Arc<AtomicBool>,
}

impl<B> Flaky<B> {
    fn check(&self) -> Result<(), io::Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected I/O error"));
        }
        Ok(())
    }
}

impl<B: StorageBackend> StorageBackend for Flaky<B> {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.check()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        self.check()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.check()?;
        self.inner.write(offset, data)
    }
    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// Opens `path` on a [`Flaky`] file backend switched by `fail`: every open
/// sees what the previous ones committed (a disk that fills up and frees).
pub(crate) fn flaky_file(path: PathBuf, fail: Arc<AtomicBool>) -> Open {
    Arc::new(move || {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let backend = Flaky {
            inner: FileBackend::new(file)?,
            fail: fail.clone(),
        };
        Database::builder().create_with_backend(backend)
    })
}
