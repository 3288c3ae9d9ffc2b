//! `benches/compare` is a workspace of its own (so the normal build never compiles the other
//! stacks) with its own `Cargo.lock`, and `cargo xtask bench` builds it with `--locked`. When a
//! workspace crate gains or loses a dependency, that lock goes stale and the bench fails
//! before it measures anything. This check catches it in CI: every workspace package (a lock
//! entry without `source`) listed in both lock files must have the same dependencies in both,
//! except its dev-dependencies (the main lock holds those of every workspace member; the
//! compare lock has the crates as path dependencies, without them).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Finding, Severity};

/// A lock file's local packages: name → (line of `name = ...`, its dependencies' names).
type Locals = BTreeMap<String, (usize, Vec<String>)>;

/// Parses the `[[package]]` entries of a `Cargo.lock` that have no `source` (path packages).
pub(crate) fn local_packages(text: &str) -> Locals {
    let mut out = Locals::new();
    for (start, entry) in entries(text) {
        let mut name = None;
        let mut has_source = false;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in entry.lines() {
            let line = line.trim();
            if in_deps {
                if line.starts_with(']') {
                    in_deps = false;
                } else if let Some(dep) = line
                    .trim_matches(|c| c == '"' || c == ',')
                    .split(' ')
                    .next()
                {
                    if !dep.is_empty() {
                        deps.push(dep.to_owned());
                    }
                }
            } else if let Some(v) = line.strip_prefix("name = ") {
                name = Some(v.trim_matches('"').to_owned());
            } else if line.starts_with("source = ") {
                has_source = true;
            } else if line.starts_with("dependencies = [") {
                in_deps = !line.ends_with(']');
            }
        }
        if let (Some(name), false) = (name, has_source) {
            deps.sort();
            out.insert(name, (start + 1, deps));
        }
    }
    out
}

/// The `[[package]]` sections with the (0-based) line each starts on.
fn entries(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim() == "[[package]]" {
            out.push((i + 1, String::new()));
        } else if let Some((_, entry)) = out.last_mut() {
            entry.push_str(line);
            entry.push('\n');
        }
    }
    out
}

/// The dependency names a manifest declares outside its dev-dependencies: `[dependencies]`,
/// `[build-dependencies]` and their `[target.'cfg(..)'.…]` forms, as keys or dotted tables.
pub(crate) fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut counted = false;
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let header = header.trim();
            let (table, rest) = match header.rsplit_once("dependencies") {
                Some((before, after)) => (before, after),
                None => {
                    counted = false;
                    continue;
                }
            };
            let table_ok = table.is_empty()
                || table == "build-"
                || (table.starts_with("target.")
                    && (table.ends_with("].") || table.ends_with('.')));
            let table_ok = table_ok && !table.ends_with("dev-");
            match rest.strip_prefix('.') {
                // `[dependencies.foo]`
                Some(name) if table_ok => {
                    out.push(name.trim_matches('"').to_owned());
                    counted = false;
                }
                _ => counted = table_ok && rest.is_empty(),
            }
            continue;
        }
        if counted {
            if let Some((key, _)) = line.split_once('=') {
                let name = key.trim().split('.').next().unwrap_or("").trim_matches('"');
                if !name.is_empty() {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Findings for the packages of `main` whose dependencies differ in `other` (at `other_path`).
/// `manifests` maps a workspace package's name to its `Cargo.toml` text.
pub(crate) fn compare(
    main: &str,
    other: &str,
    manifests: &BTreeMap<String, String>,
    other_path: &Path,
) -> Vec<Finding> {
    let main = local_packages(main);
    let other = local_packages(other);
    let mut findings = Vec::new();
    for (name, (line, deps)) in &other {
        let (Some((_, all)), Some(manifest)) = (main.get(name), manifests.get(name)) else {
            continue;
        };
        let normal = normal_dependencies(manifest);
        let want: Vec<String> = all.iter().filter(|d| normal.contains(d)).cloned().collect();
        let want = &want;
        if want != deps {
            let missing: Vec<&str> = want
                .iter()
                .filter(|d| !deps.contains(d))
                .map(String::as_str)
                .collect();
            let extra: Vec<&str> = deps
                .iter()
                .filter(|d| !want.contains(d))
                .map(String::as_str)
                .collect();
            findings.push(Finding {
                severity: Severity::Error,
                path: other_path.to_path_buf(),
                line: *line,
                message: format!(
                    "stale lock entry for `{name}` (missing: [{}], extra: [{}]); run `cargo \
                     update --workspace --manifest-path {}`",
                    missing.join(", "),
                    extra.join(", "),
                    other_path.with_file_name("Cargo.toml").display()
                ),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = r#"
[[package]]
name = "bytes"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "tether-transport-tokio"
version = "0.1.0"
dependencies = [
 "bytes",
 "rcgen 0.13.2",
]

[[package]]
name = "tether-leaf"
version = "0.1.0"
"#;

    const MANIFEST: &str = r#"
[package]
name = "tether-transport-tokio"

[dependencies]
bytes.workspace = true # a comment

[target.'cfg(unix)'.dependencies]
rcgen = { workspace = true }

[dev-dependencies]
proptest.workspace = true

[lints]
workspace = true
"#;

    fn manifests() -> BTreeMap<String, String> {
        [("tether-transport-tokio".to_owned(), MANIFEST.to_owned())].into()
    }

    #[test]
    fn normal_dependencies_skip_dev_dependencies() {
        assert_eq!(normal_dependencies(MANIFEST), ["bytes", "rcgen"]);
        let dotted =
            "[dependencies.foo]\nversion = \"1\"\n[dev-dependencies.bar]\nversion = \"1\"\n";
        assert_eq!(normal_dependencies(dotted), ["foo"]);
    }

    #[test]
    fn reads_only_path_packages_and_dependency_names() {
        let locals = local_packages(MAIN);
        assert_eq!(locals.len(), 2);
        assert_eq!(
            locals["tether-transport-tokio"].1,
            vec!["bytes".to_owned(), "rcgen".to_owned()]
        );
        assert!(locals["tether-leaf"].1.is_empty());
    }

    #[test]
    fn a_dependency_missing_from_the_other_lock_is_an_error() {
        let path = Path::new("benches/compare/Cargo.lock");
        let stale = MAIN.replace(" \"rcgen 0.13.2\",\n", "");
        let findings = compare(MAIN, &stale, &manifests(), path);
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.contains("missing: [rcgen]"),
            "{findings:?}"
        );
        assert!(compare(MAIN, MAIN, &manifests(), path).is_empty());
    }

    #[test]
    fn a_dev_dependency_only_in_the_main_lock_is_fine() {
        let with_dev = MAIN.replace(
            " \"rcgen 0.13.2\",\n",
            " \"proptest\",\n \"rcgen 0.13.2\",\n",
        );
        let path = Path::new("x/Cargo.lock");
        assert!(compare(&with_dev, MAIN, &manifests(), path).is_empty());
    }
}
