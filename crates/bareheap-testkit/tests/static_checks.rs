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

// ---- F6: the constant-time heaps' operations contain no loop --------------------------------

/// `text` with comments and the contents of string and character literals blanked out (line
/// breaks kept), so that braces and keywords in them do not count.
fn strip_comments_and_literals(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: u8| if c == b'\n' { '\n' } else { ' ' };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out.push(' ');
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                loop {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        out.push_str("  ");
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        out.push_str("  ");
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        out.push(blank(b[i]));
                        i += 1;
                    }
                }
            }
            b'"' => {
                out.push('"');
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        out.push(' ');
                        i += 1;
                    }
                    out.push(blank(b[i]));
                    i += 1;
                }
                out.push('"');
                i += 1;
            }
            // A character literal (`'x'`, `'\n'`), not a lifetime (`'a`).
            b'\'' if b.get(i + 1) == Some(&b'\\') || b.get(i + 2) == Some(&b'\'') => {
                out.push('\'');
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    if b[i] == b'\\' {
                        out.push(' ');
                        i += 1;
                    }
                    out.push(' ');
                    i += 1;
                }
                out.push('\'');
                i += 1;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// `code` (stripped) without the items and statements marked `#[cfg(test)]`, which are not
/// part of a real build.
fn drop_cfg_test(code: &str) -> String {
    let mut code = code.to_string();
    while let Some(at) = code.find("#[cfg(test)]") {
        // The item ends at its block, or at a `;` or `,` (a statement, a field) outside
        // parentheses, or before the `}` that closes the enclosing block.
        let mut end = code.len();
        let mut parens = 0usize;
        for (i, c) in code.char_indices().skip(at + "#[cfg(test)]".len()) {
            match c {
                '(' | '[' => parens += 1,
                ')' | ']' => parens = parens.saturating_sub(1),
                '{' if parens == 0 => {
                    end = matching_brace(&code, i);
                    break;
                }
                ';' | ',' if parens == 0 => {
                    end = i + 1;
                    break;
                }
                '}' if parens == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        code.replace_range(at..end, "");
    }
    code
}

/// The index just past the `}` matching the `{` at `open`.
fn matching_brace(code: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i + 1;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces after byte {open}");
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `fn name … { body }` in `code` (stripped), as `(name, body)`; declarations without a
/// body are skipped.
fn fn_bodies(code: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("fn ").map(|i| i + from) {
        from = at + 3;
        if at > 0 && is_ident(code[..at].chars().next_back().unwrap_or(' ')) {
            continue;
        }
        let name: String = code[at + 3..].chars().take_while(|&c| is_ident(c)).collect();
        if name.is_empty() {
            continue;
        }
        // The signature ends at the body's `{` or at a `;` (a declaration).
        let Some(end) = code[at..].find(['{', ';']).map(|i| i + at) else { break };
        if code.as_bytes()[end] == b';' {
            continue;
        }
        let close = matching_brace(code, end);
        out.push((name, code[end..close].to_string()));
    }
    out
}

/// The body of the `impl` block whose header (from `impl` to its `{`, possibly over several
/// lines, whitespace collapsed) contains `header` (e.g. `Heap for Bump`).
fn impl_block<'a>(code: &'a str, header: &str) -> &'a str {
    let open = code
        .lines()
        .scan(0, |pos, l| {
            let start = *pos;
            *pos += l.len() + 1;
            Some((start, l))
        })
        .filter(|(_, l)| {
            l.trim_start().starts_with("impl") || l.trim_start().starts_with("unsafe impl")
        })
        .filter_map(|(start, _)| {
            let open = start + code[start..].find('{')?;
            let head = code[start..open].split_whitespace().collect::<Vec<_>>().join(" ");
            head.contains(header).then_some(open)
        })
        .next()
        .unwrap_or_else(|| panic!("no `impl … {header}` block"));
    &code[open..matching_brace(code, open)]
}

/// The names `body` calls: identifiers followed by `(` or by a turbofish, not macros.
fn callees(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !is_ident(chars[i - 1])) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
            if rest.starts_with('(') || rest.starts_with("::<") {
                out.push(chars[start..i].iter().collect());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The loop constructs in `body`: the keywords `loop`, `while`, `for`, and iterator methods
/// that loop.
fn loops_in(body: &str) -> Vec<&'static str> {
    let words: Vec<&str> = body.split(|c: char| !is_ident(c)).collect();
    let mut found: Vec<&'static str> =
        ["loop", "while", "for"].into_iter().filter(|k| words.contains(k)).collect();
    for m in [".iter(", ".into_iter(", ".for_each(", ".fold(", ".any(", ".all(", ".position("] {
        if body.contains(m) {
            found.push(m);
        }
    }
    found
}

/// Checks that `allocate`, `deallocate`, `grow` and `shrink` of the `impl` block `header` in
/// `sources[0]`, and every function they reach by name in `sources`, contain no loop and no
/// recursion. Returns the functions reached, or the violations.
fn operations_are_loop_free(sources: &[String], header: &str) -> Result<Vec<String>, Vec<String>> {
    let stripped: Vec<String> =
        sources.iter().map(|s| drop_cfg_test(&strip_comments_and_literals(s))).collect();
    let roots = fn_bodies(impl_block(&stripped[0], header));
    let all: Vec<(String, String)> = stripped.iter().flat_map(|s| fn_bodies(s)).collect();
    let mut bad = Vec::new();
    let mut reached = Vec::new();
    for op in ["allocate", "deallocate", "grow", "shrink"] {
        let Some((_, body)) = roots.iter().find(|(n, _)| n == op) else {
            bad.push(format!("{header}: no `{op}` found"));
            continue;
        };
        // Depth-first over the call graph by name; `path` detects recursion.
        let mut stack = vec![(vec![op.to_string()], body.clone())];
        while let Some((path, body)) = stack.pop() {
            let here = path.join(" → ");
            for l in loops_in(&body) {
                bad.push(format!("{here}: `{l}`"));
            }
            for callee in callees(&body) {
                if path.contains(&callee) {
                    if !(path.len() == 1 && path[0] == callee) || callee == op {
                        bad.push(format!("{here} → {callee}: recursion"));
                    }
                    continue;
                }
                for (name, b) in all.iter().filter(|(n, _)| *n == callee) {
                    if !reached.contains(name) {
                        reached.push(name.clone());
                    }
                    let mut p = path.clone();
                    p.push(name.clone());
                    stack.push((p, b.clone()));
                }
            }
        }
    }
    if bad.is_empty() {
        Ok(reached)
    } else {
        bad.sort();
        bad.dedup();
        Err(bad)
    }
}

/// The sources a heap's operations may call into: its own files first, then the shared helpers.
fn heap_sources(own: &[&str]) -> Vec<String> {
    let root = library_root();
    own.iter()
        .chain(&["heap.rs", "sanitize.rs", "fault.rs"])
        .map(|f| std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect()
}

/// RELIABILITY.md F6: `Tlsf` documents "no loop at all" in allocate, deallocate, grow and
/// shrink (constant time, so a constant time with interrupts masked), and `Bump` documents
/// O(1) for every operation. Each operation and everything it calls in the library (by name,
/// transitively) must be free of `loop`, `while`, `for`, looping iterator methods and recursion.
/// (`copy_nonoverlapping` of a moving grow is linear in the block size, not in the heap state.)
#[test]
fn cat_f6_tlsf_and_bump_operations_contain_no_loop_or_recursion() {
    let tlsf_dir = library_root().join("tlsf");
    let mut tlsf: Vec<&str> = vec!["tlsf/mod.rs"];
    let others: Vec<String> = std::fs::read_dir(&tlsf_dir)
        .expect("tlsf/")
        .flatten()
        .map(|e| format!("tlsf/{}", e.file_name().to_string_lossy()))
        .filter(|f| f.ends_with(".rs") && f != "tlsf/mod.rs" && !f.contains("tests"))
        .collect();
    tlsf.extend(others.iter().map(String::as_str));
    for (name, own, header) in
        [("Tlsf", tlsf, "Heap for TlsfWith"), ("Bump", vec!["bump.rs"], "Heap for Bump")]
    {
        match operations_are_loop_free(&heap_sources(&own), header) {
            Ok(reached) => {
                assert!(
                    reached.len() >= 2,
                    "{name}: the call graph scan found nothing: {reached:?}"
                );
                eprintln!("F6 {name}: no loop in allocate/deallocate/grow/shrink or {reached:?}");
            }
            Err(bad) => {
                panic!("{name} operations are documented loop-free (F6):\n{}", bad.join("\n"))
            }
        }
    }
}

/// Negative control for the check above: planted loops, reached directly, through a helper or
/// by recursion, must be found; comments and strings must not count.
#[test]
fn loop_free_check_finds_planted_loops_and_ignores_comments() {
    let clean = r#"
        unsafe impl Heap for Planted {
            fn allocate(&mut self) { self.find(1); let s = "for while loop {"; }
            unsafe fn deallocate(&mut self) { Self::release(2) } // a loop here is a comment
            unsafe fn grow(&mut self) { let c = '{'; helper::<u8>(c) }
            unsafe fn shrink(&mut self) { /* while */ }
        }
        impl Planted {
            fn find(&self, n: usize) -> usize { n + 1 }
            fn release(n: usize) { let _ = n; }
            fn validate(&self) { for _ in 0..3 {} }
        }
        fn helper<T>(c: char) { let _ = c; #[cfg(test)] self.probe.helper(c); }
    "#;
    let reached = operations_are_loop_free(&[clean.to_string()], "Heap for Planted")
        .expect("the clean planted heap must pass");
    assert_eq!(reached, ["find", "release", "helper"]);
    for (planted, want) in [
        (
            "fn find(&self, n: usize) -> usize { n + 1 }",
            "fn find(&self, n: usize) -> usize { let mut i = 0; while i < n { i += 1 } i }",
        ),
        ("fn release(n: usize) { let _ = n; }", "fn release(n: usize) { for _ in 0..n {} }"),
        ("fn release(n: usize) { let _ = n; }", "fn release(n: usize) { Self::release(n - 1) }"),
        ("fn helper<T>(c: char) { let _ = c;", "fn helper<T>(c: char) { [c].iter().count();"),
        ("unsafe fn shrink(&mut self) { /* while */ }", "unsafe fn shrink(&mut self) { loop {} }"),
    ] {
        let text = clean.replace(planted, want);
        assert_ne!(text, clean, "the plant did not apply: {want}");
        let r = operations_are_loop_free(&[text], "Heap for Planted");
        assert!(r.is_err(), "planted `{want}` was not found: {r:?}");
    }
}
