//! `cargo xtask tidy`: checks that keep the architecture honest, where clippy cannot see.
//!
//! - `crates/session-core` is sans-IO (STYLE.md practice 1). Clippy checks the code
//!   (`crates/session-core/clippy.toml`: no clock, sockets, files, DNS, OS randomness, sleeping
//!   or OS-seeded hash maps); tidy checks what clippy cannot: that the core's *normal
//!   dependency tree* (`cargo tree -e normal`, transitively) has no async runtime or socket
//!   crate, that no `allow`/`expect` of `clippy::disallowed_*` opts out in the core's sources
//!   (matches in comments and string literals do not count), and the word `OsRng` (clippy sees
//!   a type only where it is written as one, not a unit-struct value).
//! - Every workspace member has `[lints] workspace = true` (practice 12).
//! - No `.rs` file over 1,000 lines; a warning above 800 (practice 10).
//! - `benches/compare/Cargo.lock` agrees with `Cargo.lock` on the workspace crates' dependencies
//!   ([`locks`]), so `cargo xtask bench --locked` builds.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::source::code_lines;

mod locks;

const CORE_SRC: &str = "crates/session-core/src";
const CORE_MANIFEST: &str = "crates/session-core/Cargo.toml";
const COMPARE_LOCK: &str = "benches/compare/Cargo.lock";
/// Third-party crates used patched through `[patch.crates-io]` (vendor/rtc-sctp/PATCHES.md):
/// their files keep the upstream layout, so the file-size rule does not apply.
const VENDOR: &str = "vendor";
const WARN_LINES: usize = 800;
const MAX_LINES: usize = 1000;

/// Words that must not appear in session-core code (outside comments and strings), and why.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "clippy::disallowed_methods",
        "no opt-out of clippy.toml's sans-IO rules in session-core",
    ),
    (
        "clippy::disallowed_types",
        "no opt-out of clippy.toml's sans-IO rules in session-core",
    ),
    (
        "OsRng",
        "session-core has no OS randomness: use the seeded CSPRNG",
    ),
];

/// Crates that must not be in session-core's normal dependency tree (prefix match on the name):
/// async runtimes and socket layers. (`getrandom` is there, through the `sdp` crate's `rand`,
/// which the core never asks for randomness: clippy.toml refuses every entry point.)
const FORBIDDEN_DEPS: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "async-std",
    "async-io",
    "smol",
    "polling",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    Error,
    Warning,
}

/// One problem, located as `path:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) path: PathBuf,
    pub(crate) line: usize,
    pub(crate) message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {tag}: {}",
            self.path.display(),
            self.line,
            self.message
        )
    }
}

/// Runs every check under `root` and prints the findings; fails if any is an error.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let findings = check(root)?;
    for finding in &findings {
        println!("{finding}");
    }
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    println!("tidy: {errors} error(s), {warnings} warning(s)");
    if errors > 0 {
        Err(format!("{errors} tidy error(s); see the lines above"))
    } else {
        Ok(())
    }
}

/// Every finding under the workspace at `root`, sorted by path and line.
pub(crate) fn check(root: &Path) -> Result<Vec<Finding>, String> {
    check_with_tree(root, &core_dependency_tree(root)?)
}

/// [`check`], with session-core's dependency tree given (`cargo tree --prefix none` output).
fn check_with_tree(root: &Path, core_tree: &str) -> Result<Vec<Finding>, String> {
    let mut findings = Vec::new();
    let core_src = root.join(CORE_SRC);
    if !core_src.is_dir() {
        return Err(format!("{} not found", core_src.display()));
    }
    for file in rust_files(&core_src)? {
        let text = read(&file)?;
        findings.extend(check_core_source(&relative(root, &file), &text));
    }
    let manifest = root.join(CORE_MANIFEST);
    findings.extend(check_core_tree(&relative(root, &manifest), core_tree));
    for member in workspace_members(root)? {
        let manifest = member.join("Cargo.toml");
        if !has_workspace_lints(&read(&manifest)?) {
            findings.push(Finding {
                severity: Severity::Error,
                path: relative(root, &manifest),
                line: 1,
                message: "missing `[lints] workspace = true` (lints are set once, in the \
                          workspace)"
                    .to_owned(),
            });
        }
    }
    for file in rust_files(root)? {
        if file.starts_with(root.join(VENDOR)) {
            continue;
        }
        let lines = read(&file)?.lines().count();
        let severity = if lines > MAX_LINES {
            Severity::Error
        } else if lines > WARN_LINES {
            Severity::Warning
        } else {
            continue;
        };
        findings.push(Finding {
            severity,
            path: relative(root, &file),
            line: lines,
            message: format!(
                "{lines} lines (warn above {WARN_LINES}, max {MAX_LINES}): split it by job"
            ),
        });
    }
    let compare_lock = root.join(COMPARE_LOCK);
    if compare_lock.is_file() {
        let mut manifests = std::collections::BTreeMap::new();
        for member in workspace_members(root)? {
            let text = read(&member.join("Cargo.toml"))?;
            if let Some(name) = package_name(&text) {
                manifests.insert(name, text);
            }
        }
        findings.extend(locks::compare(
            &read(&root.join("Cargo.lock"))?,
            &read(&compare_lock)?,
            &manifests,
            Path::new(COMPARE_LOCK),
        ));
    }
    findings.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    Ok(findings)
}

/// The `name` of a manifest's `[package]`.
fn package_name(manifest: &str) -> Option<String> {
    let package = &manifest[manifest.find("[package]")?..];
    package
        .lines()
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| l.trim().strip_prefix("name"))
        .and_then(|rest| rest.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
}

/// The sans-IO rules for one session-core source file.
pub(crate) fn check_core_source(path: &Path, text: &str) -> Vec<Finding> {
    let code = code_lines(text);
    let mut findings = Vec::new();
    let mut report = |line_index: usize, message: String| {
        findings.push(Finding {
            severity: Severity::Error,
            path: path.to_path_buf(),
            line: line_index + 1,
            message,
        });
    };
    for (index, line) in code.iter().enumerate() {
        for (word, why) in FORBIDDEN {
            if contains_word(line, word) {
                report(index, format!("`{word}`: {why}"));
            }
        }
    }
    findings
}

/// Whether `word` occurs in `line` as a path or identifier (not inside a longer identifier;
/// `tokio_util` still matches `tokio`).
fn contains_word(line: &str, word: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = line[from..].find(word) {
        let start = from + pos;
        let end = start + word.len();
        let before_ok = !line[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after_ok = !line[end..]
            .chars()
            .next()
            .is_some_and(char::is_alphanumeric);
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

/// `cargo tree -e normal` of session-core: one crate (`name vVERSION`) per line.
fn core_dependency_tree(root: &Path) -> Result<String, String> {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "tree",
            "--manifest-path",
            CORE_MANIFEST,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--locked",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree of session-core failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("cargo tree output: {e}"))
}

/// session-core's normal dependency tree (`cargo tree --prefix none` output) has no async
/// runtime or socket crate, however deep.
pub(crate) fn check_core_tree(manifest: &Path, tree: &str) -> Vec<Finding> {
    let mut bad: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| FORBIDDEN_DEPS.iter().any(|f| name.starts_with(f)))
        .collect();
    bad.sort_unstable();
    bad.dedup();
    bad.into_iter()
        .map(|name| Finding {
            severity: Severity::Error,
            path: manifest.to_path_buf(),
            line: 1,
            message: format!(
                "`{name}` is in session-core's normal dependency tree (`cargo tree -p \
                 tether-session-core -e normal -i {name}` shows through what): session-core is sans-IO"
            ),
        })
        .collect()
}

/// Whether a manifest has `[lints]` with `workspace = true` (or `lints.workspace = true`).
pub(crate) fn has_workspace_lints(manifest: &str) -> bool {
    let mut section = String::new();
    for raw in manifest.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            section = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned();
            continue;
        }
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        if (section == "lints" && compact == "workspace=true")
            || (section.is_empty() && compact == "lints.workspace=true")
        {
            return true;
        }
    }
    false
}

/// The member directories of the workspace at `root` (`dir/*` globs expanded).
pub(crate) fn workspace_members(root: &Path) -> Result<Vec<PathBuf>, String> {
    let manifest = read(&root.join("Cargo.toml"))?;
    let start = manifest
        .find("members")
        .ok_or("no `members` in the workspace Cargo.toml")?;
    let list = &manifest[start..];
    let open = list.find('[').ok_or("malformed `members`")?;
    let close = list.find(']').ok_or("malformed `members`")?;
    let mut members = Vec::new();
    for entry in list[open + 1..close].split(',') {
        let entry = entry
            .split('#')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if entry.is_empty() {
            continue;
        }
        if let Some(dir) = entry.strip_suffix("/*") {
            let mut found: Vec<PathBuf> = fs::read_dir(root.join(dir))
                .map_err(|e| format!("{dir}: {e}"))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("Cargo.toml").is_file())
                .collect();
            found.sort();
            members.extend(found);
        } else {
            members.push(root.join(entry));
        }
    }
    Ok(members)
}

/// Every `.rs` file under `dir`, skipping build output, VCS and hidden directories.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = fs::read_dir(&current).map_err(|e| format!("{}: {e}", current.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", current.display()))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let file_type = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if file_type.is_dir() {
                if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                    pending.push(path);
                }
            } else if file_type.is_file() && name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throw-away directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "xtask-tidy-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn write(&self, relative: &str, text: &str) {
            let path = self.0.join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const LINTS: &str = "\n[lints]\nworkspace = true\n";

    fn workspace(name: &str) -> TempDir {
        let dir = TempDir::new(name);
        dir.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/*\", \"xtask\"]\n",
        );
        dir.write(
            "crates/session-core/Cargo.toml",
            &format!("[package]\nname = \"tether-session-core\"\n[dependencies]\nsdp = \"0.17\"\n{LINTS}"),
        );
        dir.write(
            "xtask/Cargo.toml",
            &format!("[package]\nname = \"xtask\"\n{LINTS}"),
        );
        dir.write("xtask/src/main.rs", "fn main() {}\n");
        dir.write(
            "crates/session-core/src/lib.rs",
            "//! Sans-IO: we never call Instant::now() or tokio.\n\
             use std::net::{IpAddr, SocketAddr};\n\
             /// Takes `now` instead of `Instant::now()`.\n\
             pub fn f(now: std::time::Instant) -> &'static str { let _ = now; \"see tokio::spawn // OsRng\" }\n",
        );
        dir
    }

    fn errors(findings: &[Finding]) -> Vec<String> {
        findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{}:{}", f.path.display(), f.line))
            .collect()
    }

    #[test]
    fn clean_workspace_passes() {
        let dir = workspace("clean");
        let findings = check_with_tree(&dir.0, TREE).unwrap();
        assert!(findings.is_empty(), "{findings:#?}");
    }

    /// A clean tree, as `cargo tree --prefix none` prints it.
    const TREE: &str =
        "tether-session-core v0.1.0 (/x)\nsdp v0.17.2\nrand v0.9.5\ngetrandom v0.3.4\n";

    #[test]
    fn forbidden_uses_are_reported_with_file_and_line() {
        let dir = workspace("forbidden");
        dir.write(
            "crates/session-core/src/bad.rs",
            "fn a() { let _ = std::time::Instant::now(); } // fine comment: OsRng\n\
             fn c() { let _ = rand_core::OsRng; }\n\
             #[allow(clippy::disallowed_methods)]\n\
             fn g() { let t = std::time::Instant::now(); } // no opt-out\n\
             #[expect(clippy::disallowed_types, reason = \"no\")]\n\
             fn h() -> std::collections::HashMap<u8, u8> { todo!() }\n\
             const S: &str = \"clippy::disallowed_methods\";\n",
        );
        let findings = check_with_tree(&dir.0, TREE).unwrap();
        let bad = "crates/session-core/src/bad.rs";
        let expected: Vec<String> = [2, 3, 5].iter().map(|l| format!("{bad}:{l}")).collect();
        assert_eq!(errors(&findings), expected, "{findings:#?}");
    }

    #[test]
    fn io_crates_anywhere_in_the_core_tree_are_reported() {
        let tree = "tether-session-core v0.1.0 (/x)\nsdp v0.17.2\ntokio v1.54.0\n\
                    tokio-util v0.7.0\nmio v1.0.0\ntokio v1.54.0 (*)\nsocket2 v0.6.0\n\
                    tracing v0.1.44\n";
        let findings = check_core_tree(Path::new("Cargo.toml"), tree);
        let names: Vec<&str> = findings
            .iter()
            .map(|f| f.message.split('`').nth(1).unwrap())
            .collect();
        assert_eq!(
            names,
            ["mio", "socket2", "tokio", "tokio-util"],
            "{findings:#?}"
        );
        assert!(check_core_tree(Path::new("Cargo.toml"), TREE).is_empty());
    }

    #[test]
    fn missing_lints_and_long_files_are_reported() {
        let dir = workspace("lints");
        dir.write("crates/other/Cargo.toml", "[package]\nname = \"other\"\n");
        dir.write("crates/other/src/lib.rs", &"// x\n".repeat(850));
        dir.write("crates/other/src/big.rs", &"// x\n".repeat(1001));
        dir.write("target/debug/huge.rs", &"// x\n".repeat(5000));
        dir.write("vendor/dep/src/huge.rs", &"// x\n".repeat(5000));
        let findings = check_with_tree(&dir.0, TREE).unwrap();
        assert_eq!(
            errors(&findings),
            vec!["crates/other/Cargo.toml:1", "crates/other/src/big.rs:1001"],
            "{findings:#?}"
        );
        let warnings: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(|f| f.to_string())
            .collect();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("crates/other/src/lib.rs:850: warning"));
    }

    #[test]
    fn lints_table_forms() {
        assert!(has_workspace_lints("[lints]\nworkspace = true\n"));
        assert!(has_workspace_lints("lints.workspace = true\n[package]\n"));
        assert!(!has_workspace_lints("[lints.rust]\nworkspace = true\n"));
        assert!(!has_workspace_lints("[package]\nname = \"x\"\n"));
    }

    #[test]
    fn word_boundaries() {
        assert!(contains_word("use tokio_util::codec;", "tokio"));
        assert!(!contains_word("let no_tokio = 1;", "tokio"));
        assert!(!contains_word("let tokios = 1;", "tokio"));
        assert!(contains_word("rand::rng().next_u32()", "rand::rng"));
        assert!(!contains_word("use rand::rngs::StdRng;", "rand::rng"));
    }
}
