//! The layout's rules, checked on the source itself (design.md section 2):
//!
//! - dependencies point down: no engine crate depends on a tool crate or on clap, plotters,
//!   indicatif or serde (from `cargo metadata`, normal dependencies);
//! - no import circles between the files of any crate: a file names the module that defines
//!   what it uses, and no two modules reach each other, directly or around a longer loop.
//!
//! The second is a reading of the text, not of the compiler's name resolution: a path
//! (`crate::a::b`, `super::x`, `self::y`, or a child module's name at the start of a path) is
//! an edge to the deepest module it names. Test code (`#[cfg(test)]` items and modules) and
//! comments are left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that form the engine: they know no tool and pull in no CLI, plotting, progress or
/// serialisation library.
const ENGINE_CRATES: &[&str] = &["umem", "bpf", "pmd", "wire", "rules", "engine"];
/// Crates built on the engine: tools and the binary.
const TOOL_CRATES: &[&str] = &["emit", "traffic", "lab", "dataplane", "benches", "testkit"];
/// Libraries an engine crate must not pull in.
const TOOL_LIBRARIES: &[&str] = &["clap", "plotters", "indicatif", "serde", "serde_json"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("dataplane sits in the workspace").to_path_buf()
}

#[test]
fn engine_crates_depend_on_no_tool() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        seen.insert(name.to_string());
        if !ENGINE_CRATES.contains(&name) {
            continue;
        }
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let kind = dependency["kind"].as_str();
            let dep = dependency["name"].as_str().unwrap_or_default();
            if kind.is_some() && kind != Some("normal") {
                continue; // dev- and build-dependencies do not ship
            }
            if TOOL_CRATES.contains(&dep) || TOOL_LIBRARIES.contains(&dep) {
                wrong.push(format!("{name} depends on {dep}"));
            }
        }
    }
    for name in ENGINE_CRATES.iter().chain(TOOL_CRATES) {
        assert!(seen.contains(*name), "the workspace has no crate {name}: update this test with the layout");
    }
    assert!(wrong.is_empty(), "engine crates must not depend on tools:\n{}", wrong.join("\n"));
}

/// One source file as a module of its crate.
struct ModuleFile {
    path: PathBuf,
    /// Module path inside the crate: `[]` for lib.rs, `["a", "b"]` for a/b.rs or a/b/mod.rs.
    module: Vec<String>,
    /// The file's non-test code, comments removed, with line numbers kept.
    code: Vec<(usize, String)>,
}

#[test]
fn no_import_circles_between_the_files_of_a_crate() {
    let root = workspace_root();
    let mut report = Vec::new();
    for entry in fs::read_dir(&root).expect("workspace root") {
        let dir = entry.expect("entry").path();
        let src = dir.join("src");
        if !dir.join("Cargo.toml").is_file() || !src.join("lib.rs").is_file() {
            continue;
        }
        let crate_name = dir.file_name().unwrap().to_string_lossy().to_string();
        for cycle in crate_cycles(&src) {
            report.push(format!("{crate_name}: {cycle}"));
        }
    }
    report.sort();
    assert!(report.is_empty(), "import circles (move the shared piece below its users):\n{}", report.join("\n"));
}

/// Every circle of the crate whose sources are under `src`, one line each.
fn crate_cycles(src: &Path) -> Vec<String> {
    let files = module_files(src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    // edges[a][b] = first place a names b
    // What each facade re-exports: `pub use a::Item` in module m means `m::Item` is `a`'s.
    let mut reexports: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for file in &files {
        for (_, text) in &file.code {
            if !text.trim_start().starts_with("pub use ") && !text.trim_start().starts_with("pub(crate) use ") {
                continue;
            }
            for path in paths_in(text) {
                if let Some((source, next)) = resolve(&file.module, &path, &modules) {
                    if source != file.module && next + 1 == path.len() {
                        reexports.insert((file.module.clone(), path[next].clone()), source);
                    }
                }
            }
        }
    }
    // edges[a][b] = first place a names b
    let mut edges: BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>> = BTreeMap::new();
    for file in &files {
        for (line, text) in &file.code {
            for path in paths_in(text) {
                let Some((mut target, next)) = resolve(&file.module, &path, &modules) else { continue };
                if let Some(item) = path.get(next) {
                    // Follow re-exports to the module that defines the item (a few hops at most).
                    for _ in 0..4 {
                        match reexports.get(&(target.clone(), item.clone())) {
                            Some(source) => target = source.clone(),
                            None => break,
                        }
                    }
                }
                if target != file.module {
                    let place = format!("{}:{line}", file.path.strip_prefix(src.parent().unwrap()).unwrap().display());
                    edges.entry(file.module.clone()).or_default().entry(target).or_insert(place);
                }
            }
        }
    }
    strongly_connected(&modules, &edges)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| {
            let members: BTreeSet<&Vec<String>> = component.iter().collect();
            let mut parts = Vec::new();
            for from in &component {
                for (to, place) in edges.get(from).into_iter().flatten() {
                    if members.contains(to) {
                        parts.push(format!("{} -> {} ({place})", name(from), name(to)));
                    }
                }
            }
            parts.join(", ")
        })
        .collect()
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "lib".to_string()
    } else {
        module.join("::")
    }
}

/// The deepest module `path` (as written in `from`) names, if it names one of this crate, and
/// the index of the first segment after it.
fn resolve(from: &[String], path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<(Vec<String>, usize)> {
    let mut segments = path.iter().peekable();
    // `segments.len()` below: how many are left after the prefix.
    let mut base: Vec<String> = match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("self") => {
            segments.next();
            from.to_vec()
        }
        Some("super") => {
            let mut base = from.to_vec();
            while segments.peek().map(|s| s.as_str()) == Some("super") {
                segments.next();
                base.pop()?;
            }
            base
        }
        Some(first) => {
            // A child module named at the start of a relative path.
            let mut child = from.to_vec();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
            from.to_vec()
        }
        None => return None,
    };
    let mut next = path.len() - segments.len();
    for segment in segments {
        let mut deeper = base.clone();
        deeper.push(segment.clone());
        if modules.contains(&deeper) {
            base = deeper;
            next += 1;
        } else {
            break;
        }
    }
    Some((base, next))
}

/// The module paths a line of code names: `use` trees expanded, and every `a::b::c` path.
fn paths_in(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let trimmed = text.trim_start();
    let use_body = trimmed
        .strip_prefix("pub use ")
        .or_else(|| trimmed.strip_prefix("pub(crate) use "))
        .or_else(|| trimmed.strip_prefix("use "));
    if let Some(body) = use_body {
        expand_use(Vec::new(), body.trim_end_matches(';'), &mut paths);
        return paths;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
        if starts_word && (bytes[i].is_ascii_lowercase() || bytes[i] == b'_') {
            let mut end = i;
            let mut path = Vec::new();
            loop {
                let start = end;
                while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                    end += 1;
                }
                if start == end {
                    break;
                }
                path.push(text[start..end].to_string());
                if text[end..].starts_with("::")
                    && !text[end + 2..].starts_with('{')
                    && !text[end + 2..].starts_with('<')
                {
                    end += 2;
                } else {
                    break;
                }
            }
            if path.len() > 1 {
                paths.push(path);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    paths
}

/// Expands one `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand_use(prefix: Vec<String>, tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> =
            tree[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut base = prefix.clone();
        base.extend(head);
        let mut depth = 0;
        let mut start = 0;
        for (index, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(base.clone(), &inner[start..index], out);
                    start = index + 1;
                }
                _ => {}
            }
        }
        expand_use(base, &inner[start..], out);
    } else {
        let tree = tree.split(" as ").next().unwrap_or(tree);
        let mut path = prefix;
        path.extend(tree.split("::").map(str::trim).filter(|s| !s.is_empty() && *s != "*").map(String::from));
        if path.last().map(String::as_str) == Some("self") {
            path.pop();
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
}

/// The crate's source files as modules, test-only files and test code left out.
fn module_files(src: &Path) -> Vec<ModuleFile> {
    let mut files = Vec::new();
    collect(src, src, &mut files);
    let test_only: BTreeSet<Vec<String>> = files.iter().flat_map(test_children).collect();
    files.retain(|f| !test_only.iter().any(|t| f.module.starts_with(t)));
    files
}

fn collect(src: &Path, dir: &Path, out: &mut Vec<ModuleFile>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).expect("source dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(src, &path, out);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap();
        let mut module: Vec<String> = relative.iter().map(|c| c.to_string_lossy().to_string()).collect();
        let last = module.pop().unwrap();
        match last.as_str() {
            "lib.rs" | "main.rs" if module.is_empty() => {}
            "mod.rs" => {}
            other => module.push(other.trim_end_matches(".rs").to_string()),
        }
        if relative.starts_with("bin") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("source file");
        out.push(ModuleFile { path, module, code: non_test_code(&text) });
    }
}

/// Child modules a file declares under `#[cfg(test)]` (`#[cfg(test)] mod tests;`).
fn test_children(file: &ModuleFile) -> Vec<Vec<String>> {
    let text = fs::read_to_string(&file.path).expect("source file");
    let lines: Vec<&str> = text.lines().collect();
    let mut children = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let line = line.trim();
        let declared = line
            .strip_prefix("mod ")
            .or_else(|| line.strip_prefix("pub mod "))
            .or_else(|| line.strip_prefix("pub(crate) mod "));
        if let Some(rest) = declared {
            if rest.ends_with(';') && index > 0 && lines[index - 1].trim().starts_with("#[cfg(test)]") {
                let mut child = file.module.clone();
                child.push(rest.trim_end_matches(';').trim().to_string());
                children.push(child);
            }
        }
    }
    children
}

/// The file's lines without comments and without items marked `#[cfg(test)]` (the item that
/// follows the attribute, to its closing brace).
fn non_test_code(text: &str) -> Vec<(usize, String)> {
    let mut code = Vec::new();
    let mut skipping_from_depth: Option<i32> = None;
    let mut pending_test_attribute = false;
    let mut depth = 0i32;
    for (index, raw) in text.lines().enumerate() {
        let line = match raw.find("//") {
            Some(at) if !raw[..at].contains('"') => &raw[..at],
            _ => raw,
        };
        let trimmed = line.trim();
        if skipping_from_depth.is_none() && trimmed.starts_with("#[cfg(test)]") {
            pending_test_attribute = true;
            continue;
        }
        let opens = line.matches('{').count() as i32;
        let closes = line.matches('}').count() as i32;
        if pending_test_attribute && !trimmed.starts_with("#[") && !trimmed.is_empty() {
            pending_test_attribute = false;
            if opens > closes {
                skipping_from_depth = Some(depth);
            }
            depth += opens - closes;
            continue;
        }
        depth += opens - closes;
        if let Some(start) = skipping_from_depth {
            if depth <= start {
                skipping_from_depth = None;
            }
            continue;
        }
        if !trimmed.is_empty() {
            code.push((index + 1, line.to_string()));
        }
    }
    code
}

/// Tarjan's strongly connected components.
fn strongly_connected(
    nodes: &BTreeSet<Vec<String>>,
    edges: &BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>,
) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on_stack: BTreeSet<Vec<String>>,
        next: usize,
        components: Vec<Vec<Vec<String>>>,
    }
    fn visit(state: &mut State<'_>, node: &Vec<String>) {
        state.index.insert(node.clone(), state.next);
        state.low.insert(node.clone(), state.next);
        state.next += 1;
        state.stack.push(node.clone());
        state.on_stack.insert(node.clone());
        let targets: Vec<Vec<String>> = state.edges.get(node).map(|t| t.keys().cloned().collect()).unwrap_or_default();
        for target in targets {
            if !state.index.contains_key(&target) {
                visit(state, &target);
                let low = state.low[node].min(state.low[&target]);
                state.low.insert(node.clone(), low);
            } else if state.on_stack.contains(&target) {
                let low = state.low[node].min(state.index[&target]);
                state.low.insert(node.clone(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(&top);
                let done = &top == node;
                component.push(top);
                if done {
                    break;
                }
            }
            state.components.push(component);
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in nodes {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.components
}
