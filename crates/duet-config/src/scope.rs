//! What a backup in an Upgrade state keeps of the active node's
//! configuration (the seed's Appendix C): in Upgrade Higher everything but
//! the opt-out paths and the fixed exclusions; in Upgrade Lower only the
//! opt-in paths, less the attribute exceptions.

use duet_params::ServerParams;

use crate::object::Object;
use crate::path::TreePath;

/// The fixed Upgrade Higher exclusions: handlers, phones, and the entries
/// install scripts update.
pub const FIXED_UPGRADE_HIGHER_EXCLUSIONS: [&str; 3] =
    ["/config/Handlers", "/config/Phones", "/server/Install"];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Same releases: everything.
    #[default]
    Full,
    UpgradeHigher {
        excluded: Vec<TreePath>,
    },
    UpgradeLower {
        included: Vec<TreePath>,
        /// (class name, attributes) left out.
        attribute_exceptions: Vec<(String, Vec<String>)>,
    },
}

/// What the backup does with one entry of the active node's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// Not replicated in this state.
    Skip,
    /// Kept, possibly without some attributes.
    Keep(Option<Object>),
}

fn paths<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<TreePath> {
    texts
        .into_iter()
        .filter_map(|t| TreePath::parse(t).ok())
        .collect()
}

impl Scope {
    pub fn upgrade_higher(params: &ServerParams) -> Scope {
        let mut excluded = paths(FIXED_UPGRADE_HIGHER_EXCLUSIONS);
        excluded.extend(paths(
            params
                .upgrade_higher_ds_exclusions
                .iter()
                .map(String::as_str),
        ));
        Scope::UpgradeHigher { excluded }
    }

    pub fn upgrade_lower(params: &ServerParams) -> Scope {
        let included = paths(params.upgrade_sync_dirs().iter().map(String::as_str));
        let attribute_exceptions = params
            .upgrade_attribute_exceptions
            .iter()
            .map(|e| (e.class.clone(), e.attributes.clone()))
            .collect();
        Scope::UpgradeLower {
            included,
            attribute_exceptions,
        }
    }

    pub fn admit(&self, path: &TreePath, object: Option<&Object>) -> Admit {
        match self {
            Scope::Full => Admit::Keep(object.cloned()),
            Scope::UpgradeHigher { excluded } => {
                if excluded.iter().any(|e| path.starts_with(e)) {
                    Admit::Skip
                } else {
                    Admit::Keep(object.cloned())
                }
            }
            Scope::UpgradeLower {
                included,
                attribute_exceptions,
            } => {
                if !included.iter().any(|i| path.starts_with(i)) {
                    return Admit::Skip;
                }
                Admit::Keep(object.map(|o| {
                    let mut o = o.clone();
                    for (class, attributes) in attribute_exceptions {
                        if o.class.name().eq_ignore_ascii_case(class) {
                            o.attributes.retain(|name, _| !attributes.contains(name));
                        }
                    }
                    o
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use duet_params::load;

    use super::*;
    use crate::object::Class;

    fn p(text: &str) -> TreePath {
        TreePath::parse(text).unwrap()
    }

    #[test]
    fn upgrade_higher_replicates_all_but_the_opt_outs_and_the_fixed_exclusions() {
        let params = load([(
            "Switchover Upgrade Higher DS Exclusions",
            r"${CONFIG}\Reports",
        )])
        .unwrap()
        .params;
        let scope = Scope::upgrade_higher(&params);
        let user = Object::new(Class::User);
        assert_eq!(
            scope.admit(&p("/config/Users/a"), Some(&user)),
            Admit::Keep(Some(user.clone()))
        );
        for skipped in [
            "/config/Phones/p1",
            "/config/Handlers/h",
            "/config/Reports/r",
            "/server/Install/x",
        ] {
            assert_eq!(
                scope.admit(&p(skipped), Some(&user)),
                Admit::Skip,
                "{skipped}"
            );
        }
    }

    #[test]
    fn upgrade_lower_replicates_only_the_opt_ins_less_the_attribute_exceptions() {
        // The seed's defaults: Users, Passwords, Workgroups, Roles, Default
        // User, Workstations, ProcessAutomation; and its example exception.
        let params = load([(
            "Custom Upgrade Attribute Exceptions",
            "User(Workgroups, Extension)",
        )])
        .unwrap()
        .params;
        let scope = Scope::upgrade_lower(&params);
        let user = Object::new(Class::User)
            .with("Extension", "100")
            .with("Workgroups", "Sales")
            .with("Name", "Alice");
        assert_eq!(
            scope.admit(&p("/config/Users/alice"), Some(&user)),
            Admit::Keep(Some(Object::new(Class::User).with("Name", "Alice")))
        );
        assert_eq!(
            scope.admit(&p("/server/Workstations/w1"), None),
            Admit::Keep(None)
        );
        assert_eq!(
            scope.admit(&p("/config/Phones/p1"), Some(&user)),
            Admit::Skip
        );
    }
}
