//! Source checks for the API-soundness rows of the catalogue (RELIABILITY.md H4, K1, K2): they
//! read the library's sources, so they fail when someone adds an integer-to-pointer cast, allows
//! the raw-pointer lint, or writes an `unsafe fn` without a `# Safety` section.
//! (Miri's strict-provenance run in `cargo xtask test` is the dynamic half of H4.)

use std::path::{Path, PathBuf};

fn library_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bareheap/src")
}

/// The library's non-test sources: `(path, text)`.
fn library_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                walk(&path, out);
            } else if name.ends_with(".rs") && !name.contains("tests") && name != "test_util.rs" {
                out.push((path.clone(), std::fs::read_to_string(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(&library_root(), &mut out);
    assert!(out.len() >= 10, "found only {} library sources", out.len());
    out
}

/// The code lines of `text` (comments and doc lines dropped), up to its `#[cfg(test)]` module.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

#[test]
fn cat_h4_library_has_no_integer_to_pointer_casts_or_exposed_provenance() {
    let forbidden = [
        "as *mut",
        "as *const",
        "expose_provenance",
        "with_exposed_provenance",
        "from_exposed_addr",
        "expose_addr",
    ];
    let mut found = Vec::new();
    for (path, text) in library_sources() {
        // A line may opt out with `// cast-ok: <why>` when the cast is pointer to pointer (a
        // function pointer stored in an `AtomicPtr`), which keeps its provenance.
        for (n, line) in code_lines(&text).filter(|(_, l)| !l.contains("// cast-ok: ")) {
            for f in forbidden {
                if line.contains(f) {
                    found.push(format!("{}:{}: `{f}`: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "casts that lose or expose provenance:\n{}", found.join("\n"));
}

#[test]
fn cat_k1_raw_pointer_deref_in_safe_fns_is_denied_and_never_allowed() {
    let manifest =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"))
            .expect("workspace manifest");
    assert!(
        manifest.lines().any(|l| l.replace(' ', "") == "not_unsafe_ptr_arg_deref=\"deny\""),
        "the workspace must deny clippy::not_unsafe_ptr_arg_deref"
    );
    for (path, text) in library_sources() {
        assert!(
            !text.contains("allow(clippy::not_unsafe_ptr_arg_deref"),
            "{} allows a safe fn to dereference a raw pointer argument",
            path.display()
        );
    }
}

/// Whether the `unsafe fn` on line `at` is a method of an `impl Trait for Type` block, or of a
/// macro that expands to trait methods: its contract is the trait's, documented there.
fn in_trait_impl(lines: &[&str], at: usize) -> bool {
    if !lines[at].starts_with(char::is_whitespace) {
        return false;
    }
    let skip = ["}", "{", ")", "where", "#[", "//"];
    lines[..at]
        .iter()
        .rev()
        .find(|l| {
            !l.is_empty()
                && !l.starts_with(char::is_whitespace)
                && !skip.iter().any(|s| l.starts_with(s))
        })
        .is_some_and(|item| {
            let item = item.trim_start_matches("unsafe ");
            (item.starts_with("impl") && item.contains(" for ")) || item.starts_with("macro_rules!")
        })
}

#[test]
fn cat_k2_every_unsafe_fn_has_a_safety_section() {
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, text) in library_sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in code_lines(&text) {
            let code = line.trim_start();
            let is_unsafe_fn = [
                "unsafe fn ",
                "pub unsafe fn ",
                "pub(crate) unsafe fn ",
                "pub(super) unsafe fn ",
                "pub const unsafe fn ",
                "const unsafe fn ",
            ]
            .iter()
            .any(|p| code.starts_with(p));
            if !is_unsafe_fn || in_trait_impl(&lines, n) {
                continue;
            }
            checked += 1;
            let docs: Vec<&str> = lines[..n]
                .iter()
                .rev()
                .take_while(|l| {
                    let t = l.trim_start();
                    t.starts_with("///") || t.starts_with("#[")
                })
                .copied()
                .collect();
            if !docs.iter().any(|d| d.contains("# Safety")) {
                missing.push(format!("{}:{}: {}", path.display(), n + 1, code));
            }
        }
    }
    assert!(checked >= 10, "only {checked} unsafe fns found: the scan is broken");
    assert!(missing.is_empty(), "unsafe fns without a `# Safety` section:\n{}", missing.join("\n"));
}
