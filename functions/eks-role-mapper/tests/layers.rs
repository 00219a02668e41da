//! The crate's layers hold (issue 31): no file of `src/` reaches itself through its imports (no
//! import circle), and no file imports a layer above its own. The layers, from the ground up:
//! `domain/` (pure), `ports/`, `cfn/`, `app/`, `adapters/`, then the wiring (`handler.rs`,
//! `lib.rs`). Read from the sources' `crate::` and `super::` paths (test modules aside), so the
//! test command keeps the layout as the README draws it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file's module path (`["app", "reconcile"]` for `src/app/reconcile/mod.rs`).
type Module = Vec<String>;

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().unwrap() != "bin" {
                files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module paths a text names after `crate::` or `super::`, resolved against `at` (the
/// file's own module), a test module's body left out.
fn named(text: &str, at: &Module) -> Vec<Module> {
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(at))] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let after = &rest[i + prefix.len()..];
            let word_start =
                i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_');
            let path: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if word_start {
                let mut m = base.clone();
                m.extend(
                    path.split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                out.push(m);
            }
            rest = after;
        }
    }
    out
}

fn parent(m: &Module) -> Module {
    m[..m.len().saturating_sub(1)].to_vec()
}

/// The file-to-file imports of `src/`: each named path resolved to the longest module that is a
/// file.
fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut all = Vec::new();
    files(src, &mut all);
    let modules: BTreeMap<Module, String> = all
        .iter()
        .map(|f| (module_of(src, f), std::fs::read_to_string(f).unwrap()))
        .collect();
    let mut edges = BTreeMap::new();
    for (m, text) in &modules {
        let mut to = BTreeSet::new();
        for path in named(text, m) {
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains_key(p));
            if let Some(t) = target.filter(|t| t != m && !t.is_empty()) {
                to.insert(t);
            }
        }
        edges.insert(m.clone(), to);
    }
    edges
}

/// Every circle: the strongly connected components of more than one file (Tarjan).
fn circles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct T<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, (usize, usize)>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a Module) {
        let n = t.index.len();
        t.index.insert(v, (n, n));
        t.stack.push(v);
        t.on.insert(v);
        for w in t.edges.get(v).into_iter().flatten() {
            if !t.index.contains_key(w) {
                visit(t, w);
                let low = t.index[w].1.min(t.index[v].1);
                t.index.get_mut(v).unwrap().1 = low;
            } else if t.on.contains(w) {
                let low = t.index[w].0.min(t.index[v].1);
                t.index.get_mut(v).unwrap().1 = low;
            }
        }
        if t.index[v].0 == t.index[v].1 {
            let mut c = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                c.push(w.clone());
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                t.out.push(c);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// A module's floor: what it may import is on its floor or below.
fn floor(m: &Module) -> usize {
    match m.first().map(String::as_str) {
        Some("domain") | Some("logging") => 0,
        Some("ports") => 1,
        Some("cfn") => 2,
        Some("app") => 3,
        Some("adapters") => 4,
        _ => 5,
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_crate_has_no_import_circle() {
    let edges = graph(&src());
    assert!(edges.len() > 30, "the sources were read: {}", edges.len());
    let found = circles(&edges);
    assert!(found.is_empty(), "import circles: {found:?}");
}

#[test]
fn no_file_imports_a_layer_above_its_own() {
    let edges = graph(&src());
    let up: Vec<String> = edges
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |t| (from, t)))
        .filter(|(from, to)| floor(to) > floor(from))
        .map(|(from, to)| format!("{} -> {}", from.join("::"), to.join("::")))
        .collect();
    assert!(up.is_empty(), "imports from a layer above: {up:?}");
}

#[test]
fn the_check_finds_a_circle_and_an_import_from_above() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("domain")).unwrap();
    std::fs::create_dir_all(src.join("app")).unwrap();
    std::fs::write(src.join("domain/a.rs"), "use crate::app::b::B;\n").unwrap();
    std::fs::write(src.join("app/b.rs"), "use crate::domain::a::A;\n").unwrap();
    std::fs::write(
        src.join("app/c.rs"),
        "use super::b::B;\n#[cfg(test)]\nmod tests { use crate::domain::a; }\n",
    )
    .unwrap();
    let edges = graph(src);
    let circle = circles(&edges);
    assert_eq!(circle.len(), 1, "{circle:?}");
    assert_eq!(circle[0].len(), 2);
    let c: Module = vec!["app".into(), "c".into()];
    assert_eq!(
        edges[&c].len(),
        1,
        "super:: resolved, the test module left out"
    );
    assert!(floor(&vec!["app".into()]) > floor(&vec!["domain".into()]));
}
