#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| telemetry_fuzz::consent_file(data));
