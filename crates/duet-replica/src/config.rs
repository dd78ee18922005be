//! The configuration tree's part of the replica: a replicated change
//! applied within the node's scope, the history kept within its
//! retention, the server parameters it holds, and the reads of it.

use duet_config::scope::Scope;
use duet_config::sync::Installed;
use duet_config::{HistoryRecord, Object, Tree, TreePath};

use crate::persist::StoreWrite;
use crate::{ApplyError, Replica};

/// Where server parameters live in the tree.
pub const SERVER_PARAMETERS: &str = "/config/Server Parameters";

/// The server parameters held in the tree (`/config/Server Parameters`),
/// as `(name, value)`.
pub fn server_parameters(tree: &Tree) -> Vec<(String, String)> {
    let Ok(folder) = TreePath::parse(SERVER_PARAMETERS) else {
        return Vec::new();
    };
    tree.children(&folder)
        .into_iter()
        .filter_map(|(name, _)| {
            let object = tree.get(&folder.join(&name).ok()?)?;
            (object.class == duet_config::Class::ServerParameter)
                .then(|| Some((name, object.attributes.get("value")?.clone())))
                .flatten()
        })
        .collect()
}

impl<P: Clone, A> Replica<P, A> {
    /// A configuration change at its position, within `scope`.
    pub(crate) fn apply_config(
        &mut self,
        mut change: duet_config::Change,
        scope: &Scope,
    ) -> Result<(), ApplyError> {
        use duet_config::Op;
        use duet_config::scope::Admit;
        let object = match &change.op {
            Op::Put { object, .. } => Some(object),
            // A conflict record changes no entry: kept or passed over by
            // its path alone.
            Op::Remove { .. } | Op::Conflict { .. } => None,
        };
        match scope.admit(change.op.path(), object) {
            Admit::Skip => {
                self.tree.skip(change.epoch, change.seq);
                self.store_installed(Installed::default());
                return Ok(());
            }
            Admit::Keep(Some(kept)) => {
                if let Op::Put { path, .. } = &change.op {
                    change.op = Op::Put {
                        path: path.clone(),
                        object: kept,
                    };
                }
            }
            Admit::Keep(None) => {}
        }
        let record = self.tree.apply_replicated(&change)?;
        self.config_changed(&record.path);
        self.out.persist(StoreWrite::Applied(record));
        Ok(())
    }

    /// The conflict records, oldest first.
    pub fn conflicts(&self) -> Vec<HistoryRecord> {
        self.tree.conflicts().cloned().collect()
    }

    /// Keeps the history within `retention` records: once it holds a
    /// tenth more, the oldest are dropped (in memory and, in the order of
    /// the writes before, in the store), so memory and start-up follow the
    /// retention, not the age of the pair.
    pub(crate) fn history_over_retention(&self) -> bool {
        let retention = self.settings.history_retention;
        self.tree.history_len() > retention + retention / 10
    }

    pub(crate) fn compact_history(&mut self) {
        let retention = self.settings.history_retention;
        if !self.history_over_retention() {
            return;
        }
        let forgotten = self.tree.compact_history(retention);
        if !forgotten.is_empty() {
            self.store_installed(Installed {
                forgotten,
                ..Installed::default()
            });
            self.out
                .persist(StoreWrite::HistoryFloor(self.tree.history_floor()));
        }
    }

    /// Rises whenever the server parameters in the tree may have changed.
    pub fn parameters_generation(&self) -> u64 {
        self.parameters_generation
    }

    /// A change was applied at `path`: the parameters may have changed.
    pub(crate) fn config_changed(&mut self, path: &TreePath) {
        self.ix.config_changed(path);
        if TreePath::parse(SERVER_PARAMETERS).is_ok_and(|folder| path.starts_with(&folder)) {
            self.parameters_generation += 1;
        }
    }

    /// Reads for the API.
    pub fn get(&self, path: &TreePath) -> Option<Object> {
        self.tree.get(path).cloned()
    }

    pub fn history(&self, path: &TreePath) -> Vec<HistoryRecord> {
        self.tree.history(path).into_iter().cloned().collect()
    }
}
