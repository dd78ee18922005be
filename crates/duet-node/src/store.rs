//! The node's store ([`duet_store`]) in its data directory, the owner's
//! only.

use std::path::Path;

pub use duet_store::*;

/// Opens the store in `data_dir` (created when absent), directory and
/// file the owner's only.
pub fn open(data_dir: &Path) -> Result<Store, anyhow::Error> {
    use anyhow::Context as _;
    let what = || format!("cannot open the state store in {}", data_dir.display());
    crate::private::dir(data_dir).with_context(what)?;
    let store = Store::open(data_dir).with_context(what)?;
    crate::private::file(&data_dir.join(FILE)).with_context(what)?;
    Ok(store)
}
