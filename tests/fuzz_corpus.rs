//! The committed fuzz corpus (`fuzz/corpus/`, seeded from `protocol/vectors/` by `fuzz/seed.sh`
//! and grown by fuzzing) and every crash found, kept as a regression input in
//! `fuzz/regressions/<target>/`, replayed through the fuzz targets' own checks in the normal test
//! run — on stable, without a fuzzer. The fuzzing itself runs in CI (`.ci/fuzz`).

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

use std::path::Path;

/// Every input of `target`: its corpus and its regressions.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in [root.join("corpus").join(target), root.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_decode_frame_corpus_and_regressions_pass_the_checks() {
    let inputs = inputs("decode_frame");
    assert!(inputs.len() >= 150, "the corpus is seeded from every vector: {}", inputs.len());
    for (name, data) in inputs {
        let result = std::panic::catch_unwind(|| checks::decode_frame(&data));
        assert!(result.is_ok(), "{name}");
    }
}

#[test]
fn the_command_path_corpus_and_regressions_pass_the_checks() {
    let inputs = inputs("command_path");
    assert!(inputs.len() >= 90, "the corpus is seeded from every request vector: {}", inputs.len());
    for (name, data) in inputs {
        let result = std::panic::catch_unwind(|| checks::command_path(&data));
        assert!(result.is_ok(), "{name}");
    }
}
