//! The node's modules import one another in layers: no module reaches,
//! through `crate::` paths, a module that reaches it back, and the bundle
//! of handles (`shared`) is used only by the tasks at the top. The graph is
//! read from the source, so a new import that closes a circle fails here
//! (docs/node.md lists the layers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules that may use `crate::shared::Shared`, the bundle of handles.
const BUNDLE_USERS: &[&str] = &["driver", "link", "node"];

/// Each top-level module of `src` and the top-level modules its files
/// name by a `crate::` path (comments left out).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel.components().next().unwrap().as_os_str();
            let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
            if module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let names = graph.entry(module.clone()).or_default();
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or("");
                for (i, _) in code.match_indices("crate::") {
                    let name: String = code[i + "crate::".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        names.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// A circle from `path[0]` through the end of `path`, if there is one.
fn circle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    let last = path.last().unwrap().clone();
    for next in graph.get(&last).into_iter().flatten() {
        if next == &path[0] {
            let mut found = path.clone();
            found.push(next.clone());
            return Some(found);
        }
        if path.contains(next) {
            continue;
        }
        path.push(next.clone());
        if let Some(found) = circle(graph, path) {
            return Some(found);
        }
        path.pop();
    }
    None
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let graph = graph();
    assert!(graph.contains_key("status") && graph.contains_key("replication"));
    for module in graph.keys() {
        if let Some(found) = circle(&graph, &mut vec![module.clone()]) {
            panic!("modules import in a circle: {}", found.join(" -> "));
        }
    }
}

#[test]
fn only_the_top_uses_the_bundle_of_handles() {
    for (module, names) in graph() {
        if names.contains("shared") {
            assert!(
                BUNDLE_USERS.contains(&module.as_str()),
                "{module} uses crate::shared; give it the handles it needs instead"
            );
        }
    }
}
