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

/// `--send` takes a media file (as the issue specifies; `--send-file` is its alias) and
/// `--say` the chat text. The file is opened before anything connects, so a text given to
/// `--send` is refused at once (exit code 8) instead of being sent as a chat message.
#[test]
fn send_takes_a_media_file_and_say_takes_the_chat_text() {
    // Port 1 on loopback: nothing listens, so reaching the connection step is exit code 4.
    let peer = ["peer", "--server", "ws://127.0.0.1:1/ws", "--room", "r"];
    let with = |extra: &[&str]| tether(&[&peer[..], extra].concat());

    let (code, _, err) = with(&["--send", "hello"]);
    assert_eq!(code, Some(8), "{err}");
    assert!(err.contains("cannot send hello: not .ivf"), "{err}");
    for flag in ["--send", "--send-file"] {
        let (code, _, err) = with(&[flag, "/nonexistent/vp8.ivf"]);
        assert_eq!(code, Some(8), "{flag}: {err}");
        assert!(
            err.contains("cannot use /nonexistent/vp8.ivf"),
            "{flag}: {err}"
        );
    }
    let (code, _, err) = with(&["--say", "hello"]);
    assert_eq!(
        code,
        Some(4),
        "--say is the chat text, then the server is tried: {err}"
    );
    // --loop-file needs a file to loop.
    let (code, _, err) = with(&["--loop-file"]);
    assert_eq!(code, Some(2), "{err}");

    let (_, help, _) = tether(&["peer", "--help"]);
    for text in [
        "--say <TEXT>",
        "--send <FILE>",
        "send-file",
        "--record <DIR>",
    ] {
        assert!(
            help.contains(text),
            "{text} missing from peer --help:\n{help}"
        );
    }
}

/// Logs written to a pipe (or a file) are plain text: no ANSI colour codes, whatever
/// `NO_COLOR` says (colour is only for a terminal).
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    for no_color in [None, Some("1")] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tether"));
        cmd.args(["-v", "signal", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let mut child = cmd.spawn().expect("cannot run tether signal");
        let mut line = String::new();
        BufReader::new(child.stderr.take().expect("stderr"))
            .read_line(&mut line)
            .expect("a log line");
        let _ = child.kill();
        let _ = child.wait();
        assert!(line.contains("INFO"), "expected an INFO log line: {line:?}");
        assert!(!line.contains('\u{1b}'), "colour codes in a pipe: {line:?}");
    }
}
