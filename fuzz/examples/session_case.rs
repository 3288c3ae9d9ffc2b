//! Prints the operations a `session` fuzz input decodes to: `cargo run --manifest-path
//! fuzz/Cargo.toml --example session_case -- FILE`.

fn main() {
    for path in std::env::args().skip(1) {
        match std::fs::read(&path) {
            Ok(data) => println!(
                "{path}:\n{}",
                tether_fuzz::targets::describe_session_case(&data)
            ),
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}
