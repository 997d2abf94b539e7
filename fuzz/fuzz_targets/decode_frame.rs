//! Fuzz target: the frame decoder ([`checks::decode_frame`]).
#![no_main]

mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decode_frame(data));
