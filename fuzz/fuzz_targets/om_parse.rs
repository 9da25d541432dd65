//! The Outbound Message parser on arbitrary bytes: never panics, stays within
//! its bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hookgate::salesforce::om::parse(data, hookgate::salesforce::om::Limits::default());
});
