//! The configuration in effect: versions upserted by path and sequence
//! number, each one's end the next one's start.

use std::collections::BTreeMap;

use super::write::Upsert;
use super::{Tx, values};
use crate::config::{ConfigKind, ConfigVersion};
use crate::store::{Result, StoreError};

pub(super) fn write(tx: &mut dyn Tx, versions: &[ConfigVersion]) -> Result<()> {
    let mut by_path: BTreeMap<&str, Vec<&ConfigVersion>> = BTreeMap::new();
    for v in versions {
        by_path.entry(&v.path).or_default().push(v);
    }
    for (path, versions) in by_path {
        let first_kept = versions.iter().map(|v| v.seq).filter(|&s| s > 0).min();
        for v in versions {
            if v.seq == 0 {
                // The version before the oldest change the node keeps:
                // not when this database holds older changes of its own.
                let older = super::one(
                    tx,
                    "SELECT count(*) FROM config_versions WHERE path = ?1 AND seq > 0
                     AND seq < ?2",
                    values![path, first_kept.unwrap_or(u64::MAX >> 1)],
                )?
                .i64(0)?;
                if older > 0 {
                    continue;
                }
            }
            let attributes = v
                .attributes
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Upsert {
                table: "config_versions",
                key: &["path", "seq"],
                columns: &[
                    "path",
                    "kind",
                    "name",
                    "epoch",
                    "seq",
                    "valid_from_ms",
                    "valid_to_ms",
                    "attributes",
                ],
                values: vec![
                    v.path.as_str().into(),
                    v.kind.name().into(),
                    v.name.as_str().into(),
                    v.epoch.into(),
                    v.seq.into(),
                    v.valid_from_ms.into(),
                    super::Value::Null,
                    attributes.into(),
                ],
            }
            .run(tx)?;
        }
        tx.execute(
            "UPDATE config_versions AS a SET valid_to_ms = (SELECT b.valid_from_ms
             FROM config_versions b WHERE b.path = a.path AND b.seq > a.seq
             ORDER BY b.seq LIMIT 1) WHERE a.path = ?1",
            values![path],
        )?;
    }
    Ok(())
}

/// The paths whose latest version still stands (not removed).
pub(super) fn standing_paths(tx: &mut dyn Tx) -> Result<Vec<String>> {
    tx.query(
        "SELECT path FROM config_versions WHERE valid_to_ms IS NULL AND attributes IS NOT NULL
         ORDER BY path",
        &[],
    )?
    .iter()
    .map(|r| r.text(0))
    .collect()
}

pub(super) fn versions(tx: &mut dyn Tx, kind: ConfigKind) -> Result<Vec<ConfigVersion>> {
    tx.query(
        "SELECT path, name, epoch, seq, valid_from_ms, valid_to_ms, attributes
         FROM config_versions WHERE kind = ?1 ORDER BY path, seq",
        values![kind.name()],
    )?
    .iter()
    .map(|r| {
        let path = r.text(0)?;
        let attributes = r
            .opt_text(6)?
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("{path}: {e}")))?;
        Ok(ConfigVersion {
            path,
            kind,
            name: r.text(1)?,
            epoch: r.u64(2)?,
            seq: r.u64(3)?,
            valid_from_ms: r.u64(4)?,
            valid_to_ms: r.opt_u64(5)?,
            attributes,
        })
    })
    .collect()
}
