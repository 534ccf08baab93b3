#![no_main]
//! Fuzz target: see `propwash::fuzzing::lobby_client` for what it drives and checks.

use libfuzzer_sys::fuzz_target;
use propwash_fuzz as _;

fuzz_target!(|data: &[u8]| {
    propwash::fuzzing::lobby_client(data);
});
