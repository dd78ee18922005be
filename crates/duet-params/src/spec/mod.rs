//! The table of server parameters: one entry per parameter, holding its name,
//! kind (which knows how to read and store the value), default, whether it is
//! dynamic, and its meaning. Defaults, validation and the parameter reference
//! all come from this one table. Here: what an entry is and the builders of
//! entries; the table itself is in `table.rs`.

mod table;

pub use table::SPECS;

use crate::params::{ServerParams, UnreachablePrimary};
use crate::value::{self, AttributeException, MirrorDir, Rejection};

/// How a parameter's value is read, which values are allowed, and where it is
/// stored.
pub enum Kind {
    Flag(fn(&mut ServerParams, bool)),
    /// Whole seconds; stored in milliseconds.
    Seconds {
        min: i64,
        max: Option<i64>,
        set: fn(&mut ServerParams, u64),
    },
    /// Milliseconds (duet extensions for sub-second tuning).
    Millis {
        min: i64,
        max: i64,
        set: fn(&mut ServerParams, u64),
    },
    Count {
        min: i64,
        max: Option<i64>,
        set: fn(&mut ServerParams, i64),
    },
    Dscp(fn(&mut ServerParams, u8)),
    Name(fn(&mut ServerParams, String)),
    Address(fn(&mut ServerParams, String)),
    Module,
    Dirs(fn(&mut ServerParams, Vec<MirrorDir>)),
    Extensions(fn(&mut ServerParams, Vec<String>)),
    TreePaths(fn(&mut ServerParams, Vec<String>)),
    Attributes(fn(&mut ServerParams, Vec<AttributeException>)),
    /// Accepted and ignored with a warning (the seed's removed parameters).
    Obsolete(&'static str),
}

/// Where a parameter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Named by the seed, with the seed's default and range.
    Seed,
    /// A duet extension (sub-second tuning and limits the seed leaves internal).
    Duet,
}

pub struct ParamSpec {
    pub name: &'static str,
    /// Other spellings the seed uses for the same parameter.
    pub aliases: &'static [&'static str],
    /// Former names, accepted with a warning to use the current one.
    pub renamed_from: &'static [&'static str],
    pub kind: Kind,
    /// The default as an administrator would write it; empty when unset.
    pub default: &'static str,
    /// Takes effect at once on a running backup.
    pub dynamic: bool,
    pub origin: Origin,
    pub meaning: &'static str,
}

impl Kind {
    /// The allowed values, in words, for errors and the reference.
    pub fn allowed(&self) -> String {
        let range = |min: &i64, max: &Option<i64>, unit: &str| match max {
            Some(max) => format!("{min}-{max}{unit}"),
            None => format!("{min} or more{unit}"),
        };
        match self {
            Kind::Flag(_) => "Yes/No (1/0)".into(),
            Kind::Seconds { min, max, .. } => range(min, max, " s"),
            Kind::Millis { min, max, .. } => format!("{min}-{max} ms"),
            Kind::Count { min, max, .. } => range(min, max, ""),
            Kind::Dscp(_) => "0-63 or a class name (AF41, EF, CS5, ...)".into(),
            Kind::Name(_) => "a server name".into(),
            Kind::Address(_) => "a host name or IP address".into(),
            Kind::Module => "TsServer or IP".into(),
            Kind::Dirs(_) => {
                "directories separated by ;, + before one for its subdirectories too".into()
            }
            Kind::Extensions(_) => "file extensions separated by ;".into(),
            Kind::TreePaths(_) => "configuration tree paths separated by ;".into(),
            Kind::Attributes(_) => "Class(attribute, attribute);Class(attribute)".into(),
            Kind::Obsolete(_) => "anything (ignored)".into(),
        }
    }

    /// Reads `text` and stores it in `params`.
    pub(crate) fn apply(&self, params: &mut ServerParams, text: &str) -> Result<(), Rejection> {
        match self {
            Kind::Flag(set) => set(params, value::flag(text)?),
            Kind::Seconds { min, max, set } => {
                set(params, value::integer(text, *min, *max)? as u64 * 1000)
            }
            Kind::Millis { min, max, set } => {
                set(params, value::integer(text, *min, Some(*max))? as u64)
            }
            Kind::Count { min, max, set } => set(params, value::integer(text, *min, *max)?),
            Kind::Dscp(set) => set(params, value::dscp(text)? as u8),
            Kind::Name(set) => {
                let name = text.trim();
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err("not a server name".into());
                }
                set(params, name.to_string())
            }
            Kind::Address(set) => set(params, value::address(text)?),
            Kind::Module => {
                params.monitored_module = match text.trim().to_ascii_lowercase().as_str() {
                    "tsserver" | "ts" => crate::MonitoredModule::TsServer,
                    "ip" => crate::MonitoredModule::Ip,
                    _ => return Err("not a module the switchover system monitors".into()),
                }
            }
            Kind::Dirs(set) => set(params, value::mirror_dirs(text)?),
            Kind::Extensions(set) => set(params, value::extensions(text)?),
            Kind::TreePaths(set) => set(params, value::tree_paths(text)?),
            Kind::Attributes(set) => set(params, value::attribute_exceptions(text)?),
            Kind::Obsolete(_) => {}
        }
        Ok(())
    }
}

const fn seed(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    meaning: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        aliases: &[],
        renamed_from: &[],
        kind,
        default,
        dynamic: false,
        origin: Origin::Seed,
        meaning,
    }
}

const fn dynamic(spec: ParamSpec) -> ParamSpec {
    ParamSpec {
        dynamic: true,
        ..spec
    }
}

const fn aka(spec: ParamSpec, aliases: &'static [&'static str]) -> ParamSpec {
    ParamSpec { aliases, ..spec }
}

const fn renamed(spec: ParamSpec, renamed_from: &'static [&'static str]) -> ParamSpec {
    ParamSpec {
        renamed_from,
        ..spec
    }
}

const fn duet(name: &'static str, kind: Kind, meaning: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        aliases: &[],
        renamed_from: &[],
        kind,
        default: "",
        dynamic: true,
        origin: Origin::Duet,
        meaning,
    }
}

const fn obsolete(name: &'static str, note: &'static str) -> ParamSpec {
    seed(name, Kind::Obsolete(note), "", note)
}

fn opt(s: String) -> Option<String> {
    Some(s)
}
