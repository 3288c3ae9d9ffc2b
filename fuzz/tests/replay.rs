//! Replays every committed seed (`seeds/<target>/`) and every saved crash
//! (`regressions/<target>/`) through the same function the libFuzzer target calls, on stable
//! Rust. A crash that `cargo xtask fuzz` found and minimised stays fixed because of this test.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str, min_total: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for (name, target) in tether_fuzz::TARGETS {
        for file in files(&root.join(kind).join(name)) {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            println!("{name}: {}", file.display());
            target(&data);
            total += 1;
        }
    }
    assert!(total >= min_total, "only {total} {kind} files found");
}

#[test]
fn every_seed_passes() {
    replay("seeds", tether_fuzz::TARGETS.len());
}

#[test]
fn every_saved_crash_is_fixed() {
    replay("regressions", 0);
}

#[test]
fn every_target_has_seeds_and_a_shim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in tether_fuzz::TARGETS {
        assert!(
            !files(&root.join("seeds").join(name)).is_empty(),
            "no seeds for {name}"
        );
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "no fuzz_targets/{name}.rs"
        );
    }
}
