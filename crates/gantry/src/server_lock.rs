//! One server per SQLite database. A second `gantry serve` on the same file would run a
//! second dispatcher over the same queue, a second cron over the same workflows. The server
//! holds an exclusive lock on `<database>.lock` while it runs (the system drops it when the
//! process ends, however it ends) and writes its process id there for the next one to name.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use gantry_core::config::Config;

/// The lock, held until dropped.
#[derive(Debug)]
pub(crate) struct ServerLock {
    _file: File,
}

/// Takes the lock of the configured SQLite database; `None` for PostgreSQL and in-memory
/// databases. Fails, naming the holder, when another server holds it.
pub(crate) fn hold(config: &Config) -> anyhow::Result<Option<ServerLock>> {
    let Some(database) = sqlite_file(&config.effective_database_url()) else { return Ok(None) };
    let path = PathBuf::from(format!("{}.lock", database.display()));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.rewind()?;
            write!(file, "{}", std::process::id())?;
            Ok(Some(ServerLock { _file: file }))
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            anyhow::bail!(
                "another gantry server (pid {}) already serves {}: a SQLite database takes one server process; \
                 stop that one first, or use PostgreSQL (--database-url postgres://…)",
                holder.trim(),
                database.display()
            )
        }
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// The file of a `sqlite://` URL, without its query; `None` for other URLs and `:memory:`.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_files_are_locked() {
        assert_eq!(sqlite_file("sqlite:///d/gantry.db?mode=rwc"), Some(PathBuf::from("/d/gantry.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        let first = hold(&config).unwrap().expect("a SQLite database is locked");
        let err = hold(&config).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("PostgreSQL"), "{err}");
        drop(first);
        assert!(hold(&config).unwrap().is_some());
    }
}
