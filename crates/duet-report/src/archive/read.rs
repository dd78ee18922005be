//! The archive read from the reporting databases (both writers'), for
//! the node and the CLI: each database's answer, then one result per
//! interaction.

use super::view::Archived;
use super::{Hit, Page, Search, merge};
use crate::database::{AnyStore, Database};
use crate::read::{DATABASES_MAX, ReadError};
use crate::store::{ReportStore, StoreError};

/// `read` of each database, opened to read as it is.
fn each<T>(
    databases: &[Database],
    read: impl Fn(&AnyStore) -> Result<T, StoreError>,
) -> Result<Vec<T>, ReadError> {
    if databases.len() > DATABASES_MAX {
        return Err(ReadError::TooManyDatabases(databases.len()));
    }
    databases
        .iter()
        .map(|database| {
            database
                .open_read_only()
                .and_then(|db| read(&db))
                .map_err(|error| ReadError::Database {
                    database: database.clone(),
                    error,
                })
        })
        .collect()
}

/// What each database finds (its first `limit + 1` after the cursor),
/// to merge with the live state's.
pub fn found(databases: &[Database], search: &Search) -> Result<Vec<Vec<Hit>>, ReadError> {
    each(databases, |db| db.search_archive(search))
}

/// A page of the archive alone.
pub fn page(databases: &[Database], search: &Search) -> Result<Page, ReadError> {
    Ok(merge(found(databases, search)?, search.limit))
}

/// Interaction `id` whole from the database that keeps the most of it
/// (closed beats open, a later position an earlier one).
pub fn fetch(databases: &[Database], id: &str) -> Result<Option<Archived>, ReadError> {
    Ok(each(databases, |db| Ok(db.archived(id)?.assemble()))?
        .into_iter()
        .flatten()
        .max_by_key(Archived::rank))
}
