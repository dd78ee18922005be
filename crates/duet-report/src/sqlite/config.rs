//! The configuration in effect on SQLite: versions upserted by path and
//! sequence number, each one's end the next one's start.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use crate::config::{ConfigKind, ConfigVersion};
use crate::store::{Result, StoreError};

pub(super) fn write(db: &mut Connection, versions: &[ConfigVersion]) -> Result<()> {
    let tx = super::write_transaction(db)?;
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
                let older: i64 = tx.query_row(
                    "SELECT count(*) FROM config_versions WHERE path = ?1 AND seq > 0
                     AND seq < ?2",
                    params![path, first_kept.unwrap_or(u64::MAX >> 1)],
                    |r| r.get(0),
                )?;
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
            tx.execute(
                "INSERT OR REPLACE INTO config_versions (path, kind, name, epoch, seq,
                 valid_from_ms, valid_to_ms, attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
                params![
                    v.path,
                    v.kind.name(),
                    v.name,
                    v.epoch,
                    v.seq,
                    v.valid_from_ms,
                    attributes
                ],
            )?;
        }
        tx.execute(
            "UPDATE config_versions AS a SET valid_to_ms = (SELECT b.valid_from_ms
             FROM config_versions b WHERE b.path = a.path AND b.seq > a.seq
             ORDER BY b.seq LIMIT 1) WHERE a.path = ?1",
            params![path],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The paths whose latest version still stands (not removed).
pub(super) fn standing_paths(db: &Connection) -> Result<Vec<String>> {
    let mut q = db.prepare(
        "SELECT path FROM config_versions WHERE valid_to_ms IS NULL AND attributes IS NOT NULL
         ORDER BY path",
    )?;
    let rows = q.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

pub(super) fn versions(db: &Connection, kind: ConfigKind) -> Result<Vec<ConfigVersion>> {
    let mut q = db.prepare(
        "SELECT path, name, epoch, seq, valid_from_ms, valid_to_ms, attributes
         FROM config_versions WHERE kind = ?1 ORDER BY path, seq",
    )?;
    let rows = q.query_map(params![kind.name()], |r| {
        Ok((
            ConfigVersion {
                path: r.get(0)?,
                kind,
                name: r.get(1)?,
                epoch: r.get(2)?,
                seq: r.get(3)?,
                valid_from_ms: r.get(4)?,
                valid_to_ms: r.get(5)?,
                attributes: None,
            },
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    rows.map(|row| {
        let (version, attributes) = row?;
        let attributes = attributes
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", version.path)))?;
        Ok(ConfigVersion {
            attributes,
            ..version
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigKind, ConfigVersion};
    use crate::sqlite::Sqlite;
    use crate::store::ReportStore;

    fn version(seq: u64, valid_from_ms: u64, name: Option<&str>) -> ConfigVersion {
        ConfigVersion {
            path: "/config/Users/alice".into(),
            kind: ConfigKind::User,
            name: "alice".into(),
            epoch: 1,
            seq,
            valid_from_ms,
            valid_to_ms: None,
            attributes: name.map(|n| [("display_name".to_string(), n.to_string())].into()),
        }
    }

    #[test]
    fn versions_chain_and_a_history_the_node_shortened_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Sqlite::open(&dir.path().join("r.db")).unwrap();
        db.write_config(&[version(7, 1_000, Some("Alice"))])
            .unwrap();
        // The node has since dropped record 7 from its history: record 9
        // and the version before it (seq 0) are all it shows.
        db.write_config(&[
            version(0, 0, Some("Alice")),
            version(9, 5_000, Some("Alicia")),
        ])
        .unwrap();
        let plain: Vec<(u64, u64, Option<u64>)> = db
            .config_versions(ConfigKind::User)
            .unwrap()
            .iter()
            .map(|v| (v.seq, v.valid_from_ms, v.valid_to_ms))
            .collect();
        assert_eq!(plain, [(7, 1_000, Some(5_000)), (9, 5_000, None)]);
        assert_eq!(db.standing_config_paths().unwrap(), ["/config/Users/alice"]);
        db.write_config(&[version(12, 8_000, None)]).unwrap();
        assert!(db.standing_config_paths().unwrap().is_empty(), "removed");
        assert!(db.config_versions(ConfigKind::Queue).unwrap().is_empty());
    }
}
