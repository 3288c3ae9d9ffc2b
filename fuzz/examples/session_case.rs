//! Prints the operations a `session` fuzz input decodes to, then runs it and prints how long it
//! took: `cargo run --release --manifest-path fuzz/Cargo.toml --example session_case -- FILE…`.

fn main() {
    for path in std::env::args().skip(1) {
        match std::fs::read(&path) {
            Ok(data) => {
                println!(
                    "{path}:\n{}",
                    tether_fuzz::targets::describe_session_case(&data)
                );
                let t = std::time::Instant::now();
                tether_fuzz::targets::session(&data);
                println!("{path}: ran in {:?}", t.elapsed());
            }
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}
