//! waPC sample guest in Rust, like wapc-rs's `wapc-guest-timeout` example:
//! operation `sleep` sleeps for the number of seconds in its payload with
//! `std::thread::sleep` (WASI `poll_oneoff` with a clock subscription), then
//! answers `slept for N seconds`. For checking that a sleeping guest still ends
//! at the host's time limit. std only, no crates: the waPC glue is the `wapc`
//! module shared with rust_guest.rs (wapc_glue.rs), written by hand in the
//! style of the `wapc-guest` crate.
//!
//! Build (Debian's rustc 1.63 + libstd-rust-dev-wasm32; see scripts/build-guests):
//!   rustc --edition 2021 --crate-type cdylib -C opt-level=s -C strip=symbols \
//!     --target wasm32-wasi -o wapc_guest_timeout.wasm rust_guest_timeout.rs

#[path = "wapc_glue.rs"]
mod wapc;

use std::time::Duration;
use wapc::{register_function, CallResult};

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function("sleep", sleep);
}

/// sleep: payload = whole seconds as decimal text (surrounding whitespace
/// allowed); sleeps that long, then answers "slept for N seconds". Anything
/// else is a guest error.
fn sleep(msg: &[u8]) -> CallResult {
    let text = std::str::from_utf8(msg).map_err(|_| "payload is not UTF-8 text")?;
    let seconds: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("payload '{}' is not a whole number of seconds", text.trim()))?;
    std::thread::sleep(Duration::from_secs(seconds));
    Ok(format!("slept for {} seconds", seconds).into_bytes())
}
