//! The source tree's shape, checked on every test run:
//!
//! - the `crate::` imports between `src/`'s top-level modules form no
//!   cycle (lower layers never import higher ones);
//! - only `main.rs` and `lib.rs` use `cli`;
//! - no file under `src/cli/` imports a sibling that imports it back;
//! - no function in `src/` is longer than 150 lines.
//!
//! Unit-test modules (`#[cfg(test)] mod tests { … }`) are left out of the
//! import graph: a test may build its fixtures with a higher layer. The
//! scan is textual (comments and string literals stripped), which is
//! exact for this code base's `use crate::…` and `crate::a::b` paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 150;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
}

/// The text with comments and string/char literals blanked (line breaks
/// kept, so line numbers still hold).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) && {
            let prev = if i == 0 { b' ' } else { b[i - 1] };
            !(prev.is_ascii_alphanumeric() || prev == b'_')
        } {
            // Raw string r"…" / r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = (i + 2..(i + 12).min(b.len())).find(|&j| b[j] == b'\'');
            let is_char = match close {
                Some(j) => b[i + 1] == b'\\' || j == i + 2 || !b[i + 1].is_ascii(),
                None => false,
            };
            if is_char {
                i = close.unwrap() + 1;
                out.push_str("' '");
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            // Keep multi-byte characters whole.
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The code with every `#[cfg(test)]` item (a test module) blanked.
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find('{') else {
            rest = "";
            break;
        };
        // A `#[cfg(test)] use …;` ends before any brace.
        if let Some(semi) = after.find(';')
            && semi < open
        {
            out.extend(after[..=semi].chars().filter(|&c| c == '\n'));
            rest = &after[semi + 1..];
            continue;
        }
        let mut depth = 0;
        let mut end = after.len();
        for (k, ch) in after[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.extend(after[..end].chars().filter(|&c| c == '\n'));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Top-level module names referenced as `crate::name` (also inside
/// `use crate::{a, b::c}` groups).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let t = rest.trim_start();
        if let Some(group) = t.strip_prefix('{') {
            // Top-level names of the group: split at depth-0 commas.
            let mut depth = 0;
            let mut item_start = true;
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        let name = ident(&group[k..]);
                        if !name.is_empty() {
                            refs.insert(name);
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(t);
            if !name.is_empty() {
                refs.insert(name);
            }
        }
    }
    refs
}

/// The top-level module of a file under `src/` (`lib`, `main` for the roots).
fn top_module(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let tops: BTreeSet<String> = files.iter().map(|p| top_module(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let top = top_module(f);
        let code = without_test_modules(&code_only(&std::fs::read_to_string(f).unwrap()));
        let deps = graph.entry(top.clone()).or_default();
        for r in crate_refs(&code) {
            if r != top && tops.contains(&r) {
                deps.insert(r);
            }
        }
    }
    graph
}

/// A cycle through `graph`, if any (as a path a → … → a).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let graph = module_graph();
    let shown: Vec<String> = graph
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} -> {}",
                v.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    eprintln!("module graph:\n  {}", shown.join("\n  "));
    if let Some(c) = find_cycle(&graph) {
        panic!(
            "import cycle among src/'s top-level modules: {}\n{}",
            c.join(" -> "),
            shown.join("\n")
        );
    }
}

#[test]
fn only_the_roots_use_cli() {
    let users: Vec<String> = module_graph()
        .into_iter()
        .filter(|(k, v)| v.contains("cli") && k != "lib" && k != "main")
        .map(|(k, _)| k)
        .collect();
    assert!(users.is_empty(), "modules that use `cli`: {users:?}");
}

#[test]
fn cli_files_import_no_sibling_that_imports_them_back() {
    let dir = src().join("cli");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let stem = |p: &Path| -> String {
        let rel = p.strip_prefix(&dir).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let names: BTreeSet<String> = files.iter().map(|p| stem(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let me = stem(f);
        let code = without_test_modules(&code_only(&std::fs::read_to_string(f).unwrap()));
        let deps = graph.entry(me.clone()).or_default();
        // `super::x`, `crate::cli::x`, and `use super::{x, …}`.
        let flat = code.replace("crate::cli::", "super::");
        for r in crate_refs(&flat.replace("super::", "crate::")) {
            if r != me && names.contains(&r) {
                deps.insert(r);
            }
        }
    }
    // `mod.rs` declares the others; only the pairs among siblings matter.
    graph.remove("mod");
    for deps in graph.values_mut() {
        deps.remove("mod");
    }
    if let Some(c) = find_cycle(&graph) {
        panic!("cli files import each other: {}", c.join(" -> "));
    }
}

/// Functions (and methods) with their first line and length in lines,
/// from `fn name` to the brace that closes its body.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(pos) = t.find("fn ") else { continue };
        let head = &t[..pos];
        let is_fn = head.split_whitespace().all(|w| {
            matches!(w, "pub" | "const" | "async" | "unsafe" | "extern") || w.starts_with("pub(")
        });
        if !is_fn {
            continue;
        }
        let name: String = t[pos + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut started) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            for ch in l.chars() {
                match ch {
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if !started && l.trim_end().ends_with(';') {
                break;
            }
            if started && depth <= 0 {
                out.push((name.clone(), i + 1, j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_150_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        for (name, line, len) in functions(&code) {
            if len > MAX_FN_LINES {
                long.push(format!(
                    "{}:{line} fn {name}: {len} lines",
                    f.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n  {}",
        long.join("\n  ")
    );
}

#[test]
fn the_scanner_sees_imports_and_lengths() {
    let code = code_only(
        "use crate::{load::{A, B}, fit};\n// crate::report\nlet s = \"crate::cli\";\nfn f() {\n  crate::theory::x();\n}\n",
    );
    let refs = crate_refs(&code);
    assert_eq!(
        refs,
        ["fit", "load", "theory"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert_eq!(functions(&code), vec![("f".to_string(), 4, 3)]);
    let cut = without_test_modules("a\n#[cfg(test)]\nmod tests {\n use crate::x;\n}\nb");
    assert!(!cut.contains("crate::x") && cut.ends_with('b'));
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert!(find_cycle(&graph).is_some());
}
