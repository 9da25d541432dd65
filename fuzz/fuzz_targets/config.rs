//! The config loader on arbitrary text: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hookgate::config::Config::from_toml(std::path::Path::new("fuzz.toml"), text);
        let _ = hookgate::worker::config::WorkerConfig::from_toml(std::path::Path::new("fuzz.toml"), text);
    }
});
