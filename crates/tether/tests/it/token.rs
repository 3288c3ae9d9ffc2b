//! `tether token`: the printed format, unsigned and signed.

use std::process::Command;
use std::time::Duration;

use signaling_ws::RoomTokenKey;

const SECRET: &str = "a server secret of at least 32 bytes, for tests";

fn is_room(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn tether(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .output()
        .expect("cannot run tether");
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn token_prints_a_fresh_room_name() {
    let (ok, first, _) = tether(&["token"]);
    assert!(ok);
    let (_, second, _) = tether(&["token"]);
    for out in [&first, &second] {
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out:?}");
        assert!(is_room(lines[0]), "not 128 bits of hex: {out:?}");
    }
    assert_ne!(first, second);
}

#[test]
fn signed_token_verifies_with_the_secret() {
    let dir = std::env::temp_dir().join(format!("tether-token-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let path = file.to_str().unwrap();

    let (ok, out, err) = tether(&["token", "--sign", "--secret-file", path, "--ttl", "60"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    let (room, token) = (lines[0], lines[1]);
    assert!(is_room(room), "{room:?}");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token:?}");
    assert_eq!(parts[0], "v1");
    let expiry: u64 = parts[1].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expiry >= now + 50 && expiry <= now + 70,
        "expiry {expiry}, now {now}"
    );
    let key = RoomTokenKey::new(SECRET.as_bytes().to_vec()).unwrap();
    key.verify(room, token).unwrap();
    assert!(key.verify("another-room", token).is_err());

    // A given room, and the library call gives the same format.
    let (ok, out, _) = tether(&["token", "--sign", "--secret-file", path, "--room", "r1"]);
    assert!(ok);
    let token = out.lines().nth(1).unwrap();
    key.verify("r1", token).unwrap();
    let lib = tether::signed_room_token(SECRET.into(), None, Duration::from_secs(60)).unwrap();
    key.verify(&lib.room, lib.token.as_deref().unwrap())
        .unwrap();

    // Errors: a short secret, a missing file, --sign without a secret.
    std::fs::write(&file, "short").unwrap();
    let (ok, _, err) = tether(&["token", "--sign", "--secret-file", path]);
    assert!(!ok && err.contains("secret"), "{err}");
    let (ok, _, err) = tether(&["token", "--sign", "--secret-file", "/nonexistent/secret"]);
    assert!(!ok && err.contains("cannot read"), "{err}");
    let (ok, _, _) = tether(&["token", "--sign"]);
    assert!(!ok);
    std::fs::remove_dir_all(&dir).unwrap();
}
