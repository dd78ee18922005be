//! The archive read from the reporting databases (both writers'), for
//! the node and the CLI: each database's answer, then one result per
//! interaction.

use std::path::PathBuf;

use super::view::Archived;
use super::{Hit, Page, Search, merge};
use crate::read::{DATABASES_MAX, ReadError};
use crate::sqlite::Sqlite;
use crate::store::{ReportStore, StoreError};

/// `read` of each database, opened to read as it is.
fn each<T>(
    paths: &[PathBuf],
    read: impl Fn(&Sqlite) -> Result<T, StoreError>,
) -> Result<Vec<T>, ReadError> {
    if paths.len() > DATABASES_MAX {
        return Err(ReadError::TooManyDatabases(paths.len()));
    }
    paths
        .iter()
        .map(|path| {
            Sqlite::open_read_only(path)
                .and_then(|db| read(&db))
                .map_err(|error| ReadError::Database {
                    path: path.clone(),
                    error,
                })
        })
        .collect()
}

/// What each database finds (its first `limit + 1` after the cursor),
/// to merge with the live state's.
pub fn found(paths: &[PathBuf], search: &Search) -> Result<Vec<Vec<Hit>>, ReadError> {
    each(paths, |db| db.search_archive(search))
}

/// A page of the archive alone.
pub fn page(paths: &[PathBuf], search: &Search) -> Result<Page, ReadError> {
    Ok(merge(found(paths, search)?, search.limit))
}

/// Interaction `id` whole from the database that keeps the most of it
/// (closed beats open, a later position an earlier one).
pub fn fetch(paths: &[PathBuf], id: &str) -> Result<Option<Archived>, ReadError> {
    Ok(each(paths, |db| Ok(db.archived(id)?.assemble()))?
        .into_iter()
        .flatten()
        .max_by_key(Archived::rank))
}
