//! The layout rule of proto (issue 13, README design notes): its top-level modules form a
//! hierarchy, with no import circle. Two modules that use each other can only be understood, and
//! changed, together; a circle is how a module boundary quietly stops meaning anything.
//!
//! The test reads proto's own sources: a top-level module (`src/frame/` or `src/error.rs`)
//! depends on another when its non-test code names `crate::other` or a root re-export of it
//! (`crate::PathId` is `path`'s), in a `use` or a path (doc links
//! do not count). It fails with the circle it
//! found. A second rule of issue 13 is checked here too: `Connection` has at most 40 fields.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file before its `#[cfg(test)] mod tests` (test modules may use anything),
/// without comments: a doc link is not an import.
fn non_test_code(text: &str) -> String {
    let mut end = text.len();
    for marker in ["#[cfg(test)]\nmod tests", "#[cfg(test)]\npub(crate) mod test_util", "#[cfg(test)]\nmod test"] {
        if let Some(i) = text.find(marker) {
            end = end.min(i);
        }
    }
    text[..end].lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The first path segment of every `crate::` path in `code`: `crate::frame::Frame` gives
/// `frame`, `crate::{path::PathId, Instant}` gives `path` and `Instant`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group, up to its closing brace.
            let mut depth = 0usize;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        names.insert(ident(&group[j..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names.remove("");
    names
}

/// Which module each name re-exported at the crate root comes from (`pub use path::{PathId,
/// ..}` in lib.rs maps `PathId` to `path`), so that `crate::PathId` counts as a use of `path`.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(at) = statement.find("pub use ") else { continue };
        let body = statement[at + "pub use ".len()..].trim();
        let Some((module, items)) = body.split_once("::") else { continue };
        for item in items.trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace()).split(',') {
            let name = item.split_whitespace().last().unwrap_or("").trim_matches(|c: char| c == '{' || c == '}');
            if !name.is_empty() {
                map.insert(name.to_string(), module.trim().to_string());
            }
        }
    }
    map
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut top_level = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("component").as_os_str().to_string_lossy().to_string();
        top_level.insert(first.trim_end_matches(".rs").to_string());
    }
    top_level.remove("lib");
    let reexports = root_reexports(&fs::read_to_string(src.join("lib.rs")).expect("read lib.rs"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let module = rel.components().next().expect("component").as_os_str().to_string_lossy().to_string();
        let module = module.trim_end_matches(".rs").to_string();
        let file_name = rel.file_name().expect("file name").to_string_lossy();
        if module == "lib" || file_name == "tests.rs" || rel.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let text = fs::read_to_string(f).expect("read source");
        let deps = graph.entry(module.clone()).or_default();
        for name in crate_paths(&non_test_code(&text)) {
            let name = reexports.get(&name).cloned().unwrap_or(name);
            if name != module && top_level.contains(&name) {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A cycle through `graph`, if there is one, as the list of modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first search with colours: 1 = on the current path, 2 = finished.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        colour.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match colour.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|m| m == next).expect("on path");
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, colour, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        colour.insert(node.to_string(), 2);
        None
    }
    let mut colour = BTreeMap::new();
    for node in graph.keys() {
        if colour.get(node.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(node, graph, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    g.get_mut("c").expect("c").clear();
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn proto_modules_have_no_import_circle() {
    let graph = module_graph();
    for expected in ["connection", "endpoint", "frame", "packet", "path", "recovery", "stream"] {
        assert!(graph.contains_key(expected), "module {expected} not found: {:?}", graph.keys());
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle between proto's modules: {}", cycle.join(" -> "));
    }
}

/// The named fields of `pub struct NAME { ... }` in `code`, one per `name: Type` line at the
/// struct's first level of indentation.
fn struct_fields(code: &str, name: &str) -> Vec<String> {
    let start = code.find(&format!("pub struct {name} {{")).unwrap_or_else(|| panic!("no struct {name}"));
    code[start..]
        .lines()
        .skip(1)
        .take_while(|l| *l != "}")
        .filter(|l| l.starts_with("    ") && !l.starts_with("     ") && !l.trim_start().starts_with("//"))
        .filter_map(|l| {
            let field = l.trim().trim_start_matches("pub(crate) ").trim_start_matches("pub ");
            let (ident, _) = field.split_once(':')?;
            ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_').then(|| ident.to_owned())
        })
        .collect()
}

/// Issue 13: path state lives in `Paths`, so `Connection` stays at 40 fields or fewer; a new
/// concern gets its own type rather than more fields here.
#[test]
fn connection_has_at_most_40_fields() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/connection/mod.rs");
    let fields = struct_fields(&std::fs::read_to_string(src).unwrap(), "Connection");
    assert!(fields.len() > 20, "the field parser found only {fields:?}");
    assert!(fields.len() <= 40, "Connection has {} fields: {fields:?}", fields.len());
}

#[test]
fn the_field_counter_counts_fields() {
    let code = "pub struct S {\n    /// doc: not a field\n    a: u8,\n    pub(crate) b: Vec<(u8,\n        u16)>,\n}\n";
    assert_eq!(struct_fields(code, "S"), ["a", "b"]);
}
