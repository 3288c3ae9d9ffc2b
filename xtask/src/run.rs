//! Running child processes with a printed command line and a readable failure.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// One external command to run from the workspace root.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    label: String,
    program: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    /// Variables of xtask's own environment the command does not inherit.
    removed: Vec<&'static str>,
}

/// Variables `cargo run` sets for xtask itself that must not leak into a nested cargo: ring's
/// build script reruns when `CARGO_MANIFEST_DIR` or `CARGO_PKG_NAME`/`_VERSION_*` change
/// (`rerun-if-env-changed`), so a leaked value rebuilds ring and everything above it whenever
/// `cargo xtask ...` and a plain `cargo ...` alternate. Every `CARGO_PKG_*` variable of
/// xtask's environment is removed too (see [`Step::command`]).
const NOT_INHERITED_BY_CARGO: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
];

/// The prefix of the package variables `cargo run` sets for xtask (`CARGO_PKG_NAME`, ...).
const PKG_PREFIX: &str = "CARGO_PKG_";

/// `cargo <args>`, using the same cargo that runs xtask.
pub(crate) fn cargo(label: &str, args: &[&str]) -> Step {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Step {
        label: label.to_owned(),
        program,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        envs: Vec::new(),
        removed: NOT_INHERITED_BY_CARGO.to_vec(),
    }
}

/// `program <args>` found on `PATH`.
pub(crate) fn command(label: &str, program: &str, args: &[&str]) -> Step {
    Step {
        label: label.to_owned(),
        program: program.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        envs: Vec::new(),
        removed: Vec::new(),
    }
}

impl Step {
    /// A `Command` for this step: program, arguments and environment, run in `dir`.
    pub(crate) fn to_command(&self, dir: &Path) -> Command {
        self.command(dir)
    }

    /// A `Command` for this step: program, arguments and environment, run in `dir`.
    fn command(&self, dir: &Path) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.envs.iter().cloned())
            .current_dir(dir);
        for key in &self.removed {
            command.env_remove(key);
        }
        if !self.removed.is_empty() {
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with(PKG_PREFIX) {
                    command.env_remove(key);
                }
            }
        }
        command
    }

    /// Appends arguments.
    pub(crate) fn args(mut self, extra: &[String]) -> Self {
        self.args.extend(extra.iter().cloned());
        self
    }

    /// Sets an environment variable for the command.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Removes a variable of xtask's own environment from the command's.
    pub(crate) fn without(mut self, key: &'static str) -> Self {
        self.removed.push(key);
        self
    }

    /// The command line as printed before it runs.
    pub(crate) fn shown(&self) -> String {
        let envs: String = self.envs.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        format!(
            "{envs}{} {}",
            display_program(&self.program),
            self.args.join(" ")
        )
    }

    /// Runs the command in `dir`, inheriting stdio; an error names the command and its status.
    pub(crate) fn run(&self, dir: &Path) -> Result<(), String> {
        let shown = self.shown();
        println!("$ {shown}");
        let status = self
            .command(dir)
            .status()
            .map_err(|e| format!("{}: could not start `{shown}`: {e}", self.label))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{shown}` exited with {status}"))
        }
    }

    /// Like [`Step::run`], but also returns the command's standard output (which is still
    /// printed as it streams past). `quiet` prints only the lines that start with `RESULT`.
    pub(crate) fn run_capture(&self, dir: &Path, quiet: bool) -> Result<String, String> {
        let shown = self.shown();
        println!("$ {shown}");
        let mut child = self
            .command(dir)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: could not start `{shown}`: {e}", self.label))?;
        let mut captured = String::new();
        if let Some(stdout) = child.stdout.take() {
            let mut out = std::io::stdout();
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line);
                if !quiet || line.starts_with("RESULT") {
                    let _ = writeln!(out, "{line}");
                }
                captured.push_str(&line);
                captured.push('\n');
            }
            let _ = out.flush();
        }
        let status = child
            .wait()
            .map_err(|e| format!("{}: waiting for `{shown}`: {e}", self.label))?;
        if status.success() {
            Ok(captured)
        } else {
            Err(format!("`{shown}` exited with {status}"))
        }
    }

    /// Like [`Step::run`], and also adds up the `test result:` lines of `cargo test` as they
    /// stream past, printing one total at the end (also when tests fail).
    pub(crate) fn run_tests(&self, dir: &Path) -> Result<(), String> {
        let shown = self.shown();
        println!("$ {shown}");
        let mut child = self
            .command(dir)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: could not start `{shown}`: {e}", self.label))?;
        let mut totals = TestTotals::default();
        if let Some(stdout) = child.stdout.take() {
            let mut out = std::io::stdout();
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                let _ = out.write_all(&line);
                let _ = out.write_all(b"\n");
                totals.add_line(&String::from_utf8_lossy(&line));
            }
            let _ = out.flush();
        }
        let status = child
            .wait()
            .map_err(|e| format!("{}: waiting for `{shown}`: {e}", self.label))?;
        println!("\n{totals}");
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{shown}` exited with {status}"))
        }
    }
}

/// Sums of cargo test's `test result:` lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TestTotals {
    binaries: u64,
    passed: u64,
    failed: u64,
    ignored: u64,
    filtered: u64,
}

impl TestTotals {
    /// Adds `test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ...`.
    pub(crate) fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            return;
        };
        self.binaries += 1;
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(number), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = number.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                "filtered" => self.filtered += n,
                _ => {}
            }
        }
    }
}

impl std::fmt::Display for TestTotals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tests: {} passed, {} failed, {} ignored, {} filtered out ({} test binaries/doctest runs)",
            self.passed, self.failed, self.ignored, self.filtered, self.binaries
        )
    }
}

/// `cargo` rather than the full path of the toolchain's cargo binary, for readable logs.
fn display_program(program: &str) -> &str {
    let name = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    if name == "cargo" || name == "cargo.exe" {
        "cargo"
    } else {
        program
    }
}

/// Whether `program args...` runs and exits successfully (output discarded).
pub(crate) fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::{cargo, command, TestTotals, NOT_INHERITED_BY_CARGO};

    #[test]
    fn nested_cargo_does_not_inherit_the_manifest_dir() {
        let removed = |c: &std::process::Command| {
            c.get_envs()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        let dir = std::path::Path::new(".");
        let c = cargo("x", &["build"]).env("A", "1").command(dir);
        let gone = removed(&c);
        for key in NOT_INHERITED_BY_CARGO {
            assert!(gone.iter().any(|k| k == key), "{key} in {gone:?}");
        }
        // `cargo test` sets CARGO_PKG_NAME for this test as `cargo run` does for xtask.
        if std::env::var_os("CARGO_PKG_NAME").is_some() {
            assert!(gone.iter().any(|k| k == "CARGO_PKG_NAME"), "{gone:?}");
        }
        assert!(c
            .get_envs()
            .any(|(k, v)| k == "A" && v == Some("1".as_ref())));
        assert!(removed(&command("y", "true", &[]).command(dir)).is_empty());
    }

    #[test]
    fn test_result_lines_are_added_up() {
        let mut totals = TestTotals::default();
        for line in [
            "running 3 tests",
            "test result: ok. 97 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; \
             finished in 0.29s",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; \
             finished in 0.12s",
            "test something ... ok",
        ] {
            totals.add_line(line);
        }
        assert_eq!(
            totals.to_string(),
            "tests: 98 passed, 1 failed, 2 ignored, 3 filtered out (2 test binaries/doctest runs)"
        );
    }
}
