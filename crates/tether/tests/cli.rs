//! The binary's help and readable errors.

use std::process::Command;

fn tether(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .output()
        .expect("cannot run tether");
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn help_lists_every_command() {
    let (code, out, _) = tether(&["--help"]);
    assert_eq!(code, Some(0));
    for cmd in ["demo", "signal", "peer", "token"] {
        assert!(out.contains(cmd), "{cmd} missing from --help:\n{out}");
    }
    for cmd in ["demo", "signal", "peer", "token"] {
        let (code, _, _) = tether(&[cmd, "--help"]);
        assert_eq!(code, Some(0), "{cmd} --help");
    }
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let (_, out, _) = tether(&["--help"]);
    assert!(out.contains("Examples:"), "{out}");
    assert!(out.contains("Exit codes:"), "{out}");
    for cmd in ["demo", "signal", "peer", "token"] {
        let (_, out, _) = tether(&[cmd, "--help"]);
        assert!(out.contains("Examples:"), "{cmd} --help:\n{out}");
    }
    // A missing argument is clap's usage error.
    let (code, _, err) = tether(&["peer", "--room", "r"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--server"), "{err}");
}
