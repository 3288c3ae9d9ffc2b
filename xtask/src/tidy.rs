//! `cargo xtask tidy`: checks that keep the architecture honest.
//!
//! - `crates/session-core/src` is sans-IO (STYLE.md practice 1): no tokio, no sockets, no clock,
//!   no OS randomness, no sleeping. Matches in comments and string literals do not count. There
//!   is no opt-out: test code under `src/` that needs a real `Instant` includes
//!   `tests/support/clock.rs`, which lives outside `src/`.
//! - `crates/session-core/Cargo.toml` has no tokio/getrandom (or other I/O runtime) dependency.
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

/// Words that must not appear in session-core code, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "session-core is sans-IO: no async runtime"),
    ("UdpSocket", "session-core does no I/O: no sockets"),
    ("TcpStream", "session-core does no I/O: no sockets"),
    ("TcpListener", "session-core does no I/O: no sockets"),
    ("ToSocketAddrs", "session-core does no I/O: no DNS"),
    (
        "Instant::now",
        "session-core has no clock: take `now: Instant` as an argument",
    ),
    (
        "SystemTime::now",
        "session-core has no clock: take `now` as an argument",
    ),
    (
        "thread_rng",
        "session-core has no OS randomness: use the seeded CSPRNG",
    ),
    (
        "rand::rng",
        "session-core has no OS randomness: use the seeded CSPRNG",
    ),
    (
        "OsRng",
        "session-core has no OS randomness: use the seeded CSPRNG",
    ),
    (
        "getrandom",
        "session-core has no OS randomness: use the seeded CSPRNG",
    ),
    (
        "from_entropy",
        "session-core has no OS randomness: seed from the configuration",
    ),
    (
        "from_os_rng",
        "session-core has no OS randomness: seed from the configuration",
    ),
    ("thread::sleep", "session-core never blocks"),
];

/// `std::net` items that are plain values (addresses), not I/O; everything else is refused.
const NET_VALUE_TYPES: &[&str] = &[
    "IpAddr",
    "Ipv4Addr",
    "Ipv6Addr",
    "SocketAddr",
    "SocketAddrV4",
    "SocketAddrV6",
    "AddrParseError",
];

/// Dependencies session-core must not have (prefix match on the crate name).
const FORBIDDEN_DEPS: &[&str] = &["tokio", "getrandom", "mio", "socket2", "async-std"];
/// Cargo features that turn on OS randomness in the rand family.
const FORBIDDEN_FEATURES: &[&str] = &["getrandom", "os_rng"];

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
    findings.extend(check_core_manifest(
        &relative(root, &manifest),
        &read(&manifest)?,
    ));
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
    for (index, names) in std_net_uses(&code) {
        let bad: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| !NET_VALUE_TYPES.contains(n))
            .collect();
        if names.is_empty() || !bad.is_empty() {
            let what = if bad.is_empty() {
                "std::net".to_owned()
            } else {
                format!("std::net::{}", bad.join(", "))
            };
            report(
                index,
                format!(
                    "`{what}`: session-core does no I/O (only the address types {} are allowed)",
                    NET_VALUE_TYPES.join("/")
                ),
            );
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

/// For each `std::net` path in the code: its line index and the item names it brings in (empty
/// when the module itself is named, as in `use std::net;`). Handles `std::net::{A, B}` groups that
/// span lines.
fn std_net_uses(code: &[String]) -> Vec<(usize, Vec<String>)> {
    let joined = code.join("\n");
    let mut uses = Vec::new();
    let mut from = 0;
    while let Some(pos) = joined[from..].find("std::net") {
        let start = from + pos;
        from = start + "std::net".len();
        let before_ident = joined[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if before_ident
            || joined[from..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let line = joined[..start].matches('\n').count();
        let rest = joined[from..].trim_start();
        let names = match rest.strip_prefix("::").map(str::trim_start) {
            Some(group) if group.starts_with('{') => {
                let inner = &group[1..group.find('}').unwrap_or(group.len())];
                inner
                    .split(',')
                    .filter_map(|item| item.split_whitespace().next())
                    .map(|name| name.trim_matches(|c: char| !c.is_alphanumeric() && c != '_'))
                    .map(str::to_owned)
                    .collect()
            }
            Some(path) => {
                let name: String = path
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                vec![name]
            }
            None => Vec::new(),
        };
        uses.push((line, names));
    }
    uses
}

/// The manifest rules for session-core: no I/O runtime or OS-randomness dependency.
pub(crate) fn check_core_manifest(path: &Path, text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut section = String::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            section = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned();
            // `[dependencies.tokio]` form.
            if let Some((table, name)) = section.rsplit_once('.') {
                if is_dependency_table(table) {
                    check_dependency(path, index, name, "", &mut findings);
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if is_dependency_table(&section) {
            let name = key.trim().split('.').next().unwrap_or("").trim();
            check_dependency(path, index, name, value, &mut findings);
        } else if let Some((table, _)) = section.rsplit_once('.') {
            if is_dependency_table(table) {
                // Inside `[dependencies.name]`: the name was checked on the header line.
                check_dependency(path, index, "", line, &mut findings);
            }
        }
    }
    findings
}

fn is_dependency_table(section: &str) -> bool {
    let last = section.rsplit('.').next().unwrap_or(section);
    matches!(
        last,
        "dependencies" | "dev-dependencies" | "build-dependencies"
    ) && (section == last || section.starts_with("target."))
}

fn check_dependency(
    path: &Path,
    index: usize,
    name: &str,
    value: &str,
    findings: &mut Vec<Finding>,
) {
    let name = name.trim().trim_matches('"');
    let renamed = value
        .split("package")
        .nth(1)
        .and_then(|rest| rest.split('"').nth(1));
    for crate_name in std::iter::once(name)
        .chain(renamed)
        .filter(|n| !n.is_empty())
    {
        if FORBIDDEN_DEPS.iter().any(|bad| crate_name.starts_with(bad)) {
            findings.push(Finding {
                severity: Severity::Error,
                path: path.to_path_buf(),
                line: index + 1,
                message: format!("dependency `{crate_name}`: session-core is sans-IO"),
            });
        }
    }
    for feature in FORBIDDEN_FEATURES {
        if value.contains(&format!("\"{feature}\"")) {
            findings.push(Finding {
                severity: Severity::Error,
                path: path.to_path_buf(),
                line: index + 1,
                message: format!(
                    "feature `{feature}` on `{name}`: session-core takes its seed from the \
                     configuration"
                ),
            });
        }
    }
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
        let findings = check(&dir.0).unwrap();
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn forbidden_uses_are_reported_with_file_and_line() {
        let dir = workspace("forbidden");
        dir.write(
            "crates/session-core/src/bad.rs",
            "use tokio::net::UdpSocket;\n\
             fn a() { let _ = std::time::Instant::now(); } // fine comment: OsRng\n\
             fn b() { let _ = std::time::SystemTime::now(); }\n\
             fn c() { let _ = rand::thread_rng(); let _ = rand_core::OsRng; }\n\
             fn d() { getrandom::fill(&mut [0u8; 4]).unwrap(); }\n\
             fn e() { std::thread::sleep(std::time::Duration::ZERO); }\n\
             use std::net::{\n    IpAddr,\n    TcpStream,\n};\n\
             use std::net;\n\
             fn f() -> std::net::TcpListener { todo!() }\n\
             #[allow(clippy::disallowed_methods)]\n\
             fn g() { let t = std::time::Instant::now(); } // no opt-out\n",
        );
        let findings = check(&dir.0).unwrap();
        let bad = "crates/session-core/src/bad.rs";
        let expected: Vec<String> = [1, 1, 2, 3, 4, 4, 5, 6, 7, 9, 11, 12, 12, 14]
            .iter()
            .map(|l| format!("{bad}:{l}"))
            .collect();
        assert_eq!(errors(&findings), expected, "{findings:#?}");
        assert!(findings
            .iter()
            .any(|f| f.line == 9 && f.message.contains("TcpStream")));
    }

    #[test]
    fn core_manifest_dependencies_are_checked() {
        let manifest = "[package]\nname = \"x\"\n\
                        [dependencies]\nsdp.workspace = true\ntokio = { workspace = true }\n\
                        rand_core = { version = \"0.9\", features = [\"os_rng\"] }\n\
                        [dev-dependencies.getrandom]\nversion = \"0.3\"\n\
                        [target.'cfg(unix)'.dependencies]\nrt = { package = \"tokio\", version = \"1\" }\n\
                        [features]\ntokio = []\n";
        let findings = check_core_manifest(Path::new("Cargo.toml"), manifest);
        let lines: Vec<usize> = findings.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![5, 6, 7, 10], "{findings:#?}");
    }

    #[test]
    fn missing_lints_and_long_files_are_reported() {
        let dir = workspace("lints");
        dir.write("crates/other/Cargo.toml", "[package]\nname = \"other\"\n");
        dir.write("crates/other/src/lib.rs", &"// x\n".repeat(850));
        dir.write("crates/other/src/big.rs", &"// x\n".repeat(1001));
        dir.write("target/debug/huge.rs", &"// x\n".repeat(5000));
        dir.write("vendor/dep/src/huge.rs", &"// x\n".repeat(5000));
        let findings = check(&dir.0).unwrap();
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
