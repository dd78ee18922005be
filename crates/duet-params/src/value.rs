//! Reading values the way administrators write them in the server parameter
//! container: "Yes"/"No"/"1"/"0", whole seconds, `;`-separated lists with `+`
//! for recursive directories, `Class(attr, attr)` exception lists.

use serde::Serialize;

/// Why a value could not be read; the caller adds the parameter name and the
/// allowed range.
pub type Rejection = String;

/// "Yes", "No", "1", "0", "true", "false", "on", "off", case-insensitive.
/// The seed's recovery flags are "a non-zero integer", so any integer counts.
pub fn flag(text: &str) -> Result<bool, Rejection> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "y" => Ok(true),
        "no" | "false" | "off" | "n" => Ok(false),
        _ => t
            .parse::<i64>()
            .map(|n| n != 0)
            .map_err(|_| "not a yes/no value".to_string()),
    }
}

/// A whole number within `min..=max` (no maximum when `max` is `None`).
pub fn integer(text: &str, min: i64, max: Option<i64>) -> Result<i64, Rejection> {
    let n: i64 = text
        .trim()
        .parse()
        .map_err(|_| "not a whole number".to_string())?;
    if n < min || max.is_some_and(|m| n > m) {
        return Err("out of range".to_string());
    }
    Ok(n)
}

/// Splits a `;`-separated list, dropping empty entries and surrounding blanks.
pub fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// One entry of CustomMirrorDir, InitialMirrorDir and the file
/// synchronisation lists: a directory, recursive when written with `+`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MirrorDir {
    pub path: String,
    pub recursive: bool,
}

impl std::fmt::Display for MirrorDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.recursive {
            write!(f, "+")?;
        }
        write!(f, "{}", self.path)
    }
}

pub fn mirror_dirs(text: &str) -> Result<Vec<MirrorDir>, Rejection> {
    list(text)
        .map(|entry| {
            let (recursive, path) = match entry.strip_prefix('+') {
                Some(rest) => (true, rest.trim()),
                None => (false, entry),
            };
            if path.is_empty() {
                return Err(format!("{entry:?} names no directory"));
            }
            Ok(MirrorDir {
                path: path.to_string(),
                recursive,
            })
        })
        .collect()
}

/// MirrorExceptions: file extensions, written `txt; gif; myext` (a leading
/// dot is accepted and dropped; matching is case-insensitive).
pub fn extensions(text: &str) -> Result<Vec<String>, Rejection> {
    list(text)
        .map(|entry| {
            let ext = entry.trim_start_matches('.');
            if ext.is_empty() || ext.contains(['/', '\\', '.', ' ']) {
                return Err(format!("{entry:?} is not a file extension"));
            }
            Ok(ext.to_ascii_lowercase())
        })
        .collect()
}

/// Configuration tree paths such as `${CONFIG}\Users`.
pub fn tree_paths(text: &str) -> Result<Vec<String>, Rejection> {
    Ok(list(text).map(str::to_string).collect())
}

/// One entry of Custom Upgrade Attribute Exceptions: `User(Workgroups, Extension)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AttributeException {
    pub class: String,
    pub attributes: Vec<String>,
}

pub fn attribute_exceptions(text: &str) -> Result<Vec<AttributeException>, Rejection> {
    list(text)
        .map(|entry| {
            let bad = || format!("{entry:?} is not of the form Class(attribute, attribute)");
            let (class, rest) = entry.split_once('(').ok_or_else(bad)?;
            let inner = rest.trim_end().strip_suffix(')').ok_or_else(bad)?;
            let class = class.trim();
            let attributes: Vec<String> = inner
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect();
            if class.is_empty() || attributes.is_empty() {
                return Err(bad());
            }
            Ok(AttributeException {
                class: class.to_string(),
                attributes,
            })
        })
        .collect()
}

/// A host name or an IP address (no blanks, no list).
pub fn address(text: &str) -> Result<String, Rejection> {
    let t = text.trim();
    let valid = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '[' | ']'));
    if valid {
        Ok(t.to_string())
    } else {
        Err("not a host name or IP address".to_string())
    }
}

/// A DSCP value: 0-63, or a class name (AF11..AF43, CS0..CS7, EF).
pub fn dscp(text: &str) -> Result<i64, Rejection> {
    let t = text.trim().to_ascii_uppercase();
    if let Ok(n) = integer(&t, 0, Some(63)) {
        return Ok(n);
    }
    let class_value = match t.as_str() {
        "EF" => Some(46),
        _ if t.starts_with("CS") => t[2..]
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=7).contains(n))
            .map(|n| n * 8),
        _ if t.starts_with("AF") && t.len() == 4 => {
            let class = t[2..3].parse::<i64>().ok().filter(|n| (1..=4).contains(n));
            let drop = t[3..4].parse::<i64>().ok().filter(|n| (1..=3).contains(n));
            class.zip(drop).map(|(c, d)| c * 8 + d * 2)
        }
        _ => None,
    };
    class_value.ok_or_else(|| "not a DSCP value or class name".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_as_administrators_write_them() {
        for yes in ["Yes", "yes", "1", "TRUE", "On", " 2 "] {
            assert_eq!(flag(yes), Ok(true), "{yes}");
        }
        for no in ["No", "0", "false", "off"] {
            assert_eq!(flag(no), Ok(false), "{no}");
        }
        assert!(flag("maybe").is_err());
    }

    #[test]
    fn mirror_dirs_parse_plus_for_recursive_and_semicolons() {
        // The seed: "D:\I3\Server\Data1;+D:\I3\IC\Server\Data2 means all the
        // subdirectories under Data2 are also monitored".
        let dirs = mirror_dirs(r"D:\I3\Server\Data1;+D:\I3\IC\Server\Data2; ").unwrap();
        assert_eq!(
            dirs,
            vec![
                MirrorDir {
                    path: r"D:\I3\Server\Data1".into(),
                    recursive: false
                },
                MirrorDir {
                    path: r"D:\I3\IC\Server\Data2".into(),
                    recursive: true
                },
            ]
        );
        assert!(mirror_dirs("+ ;").is_err());
    }

    #[test]
    fn extensions_are_normalised() {
        assert_eq!(
            extensions("txt; gif; .MyExt").unwrap(),
            vec!["txt", "gif", "myext"]
        );
        assert!(extensions("a/b").is_err());
    }

    #[test]
    fn attribute_exceptions_follow_the_seed_example() {
        let parsed = attribute_exceptions(
            "User(Workgroups, Extension);Workgroup(Members, View User Queue List)",
        )
        .unwrap();
        assert_eq!(parsed[0].class, "User");
        assert_eq!(parsed[0].attributes, vec!["Workgroups", "Extension"]);
        assert_eq!(
            parsed[1].attributes,
            vec!["Members", "View User Queue List"]
        );
        assert!(attribute_exceptions("User").is_err());
        assert!(attribute_exceptions("User()").is_err());
    }

    #[test]
    fn dscp_accepts_numbers_and_class_names() {
        assert_eq!(dscp("34"), Ok(34));
        assert_eq!(dscp("af41"), Ok(34));
        assert_eq!(dscp("EF"), Ok(46));
        assert_eq!(dscp("CS5"), Ok(40));
        assert!(dscp("64").is_err());
        assert!(dscp("AF51").is_err());
    }
}
