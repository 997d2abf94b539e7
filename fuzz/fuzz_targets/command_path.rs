//! Fuzz target: the command path without a network ([`checks::command_path`]).
#![no_main]

mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::command_path(data));
