//! Paths in the configuration tree: `/config/Users/alice`, also written the
//! seed's way, `${CONFIG}\Users\alice`.

use serde::{Deserialize, Serialize};

use crate::TreeError;

/// The longest path, in bytes.
pub const PATH_MAX_BYTES: usize = 1024;
/// The longest segment, in bytes.
pub const SEGMENT_MAX_BYTES: usize = 255;
/// The deepest path.
pub const DEPTH_MAX: usize = 32;

/// A validated path: non-empty segments without `/` or `\` or control
/// characters, within the limits above.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TreePath(Vec<String>);

impl TreePath {
    pub fn parse(text: &str) -> Result<TreePath, TreeError> {
        let bad = |why: &str| TreeError::InvalidPath {
            path: text.to_string(),
            why: why.to_string(),
        };
        if text.len() > PATH_MAX_BYTES {
            return Err(bad(&format!("longer than {PATH_MAX_BYTES} bytes")));
        }
        let normalised = text
            .replace("${CONFIG}", "/config")
            .replace("${SERVER}", "/server")
            .replace('\\', "/");
        let Some(rest) = normalised.strip_prefix('/') else {
            return Err(bad("a path starts with / (or ${CONFIG} or ${SERVER})"));
        };
        let segments: Vec<String> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').map(str::to_string).collect()
        };
        if segments.len() > DEPTH_MAX {
            return Err(bad(&format!("deeper than {DEPTH_MAX} levels")));
        }
        for segment in &segments {
            if segment.is_empty() {
                return Err(bad(
                    "an empty segment (two slashes in a row, or a trailing slash)",
                ));
            }
            if segment == "." || segment == ".." {
                return Err(bad("segments . and .. are not allowed"));
            }
            if segment.len() > SEGMENT_MAX_BYTES {
                return Err(bad(&format!(
                    "a segment longer than {SEGMENT_MAX_BYTES} bytes"
                )));
            }
            if segment.chars().any(char::is_control) {
                return Err(bad("a control character"));
            }
        }
        Ok(TreePath(segments))
    }

    pub fn root() -> TreePath {
        TreePath(Vec::new())
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    pub fn parent(&self) -> Option<TreePath> {
        (!self.0.is_empty()).then(|| TreePath(self.0[..self.0.len() - 1].to_vec()))
    }

    pub fn name(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    pub fn join(&self, segment: &str) -> Result<TreePath, TreeError> {
        TreePath::parse(&format!("{self}/{segment}"))
    }

    /// This path is `other` or lies below it.
    pub fn starts_with(&self, other: &TreePath) -> bool {
        self.0.starts_with(&other.0)
    }
}

impl std::fmt::Display for TreePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.0 {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_notation_and_slashes_name_the_same_path() {
        let a = TreePath::parse(r"${CONFIG}\Users\alice").unwrap();
        let b = TreePath::parse("/config/Users/alice").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "/config/Users/alice");
        assert_eq!(a.parent().unwrap().to_string(), "/config/Users");
        assert!(a.starts_with(&TreePath::parse("/config").unwrap()));
        assert!(
            !TreePath::parse("/configuration")
                .unwrap()
                .starts_with(&TreePath::parse("/config").unwrap())
        );
    }

    #[test]
    fn invalid_paths_say_why() {
        for (path, why) in [
            ("config/Users", "starts with /"),
            ("/config//Users", "empty segment"),
            ("/config/../etc", ". and .."),
            ("/config/\u{7}", "control character"),
        ] {
            let err = TreePath::parse(path).unwrap_err().to_string();
            assert!(err.contains(why), "{path}: {err}");
        }
        assert!(TreePath::parse(&format!("/{}", "x".repeat(300))).is_err());
    }
}
