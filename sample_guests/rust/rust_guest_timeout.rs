//! waPC sample guest in Rust, like wapc-rs's `wapc-guest-timeout` example:
//! operation `sleep` sleeps for the number of seconds in its payload with
//! `std::thread::sleep` (WASI `poll_oneoff` with a clock subscription), then
//! answers `slept for N seconds`. For checking that a sleeping guest still ends
//! at the host's time limit. std only, no crates: the waPC glue is the `wapc`
//! module below, written by hand in the style of the `wapc-guest` crate (the
//! same as in rust_guest.rs).
//!
//! Build (Debian's rustc 1.63 + libstd-rust-dev-wasm32; see scripts/build-guests):
//!   rustc --edition 2021 --crate-type cdylib -C opt-level=s -C strip=symbols \
//!     --target wasm32-wasi -o wapc_guest_timeout.wasm rust_guest_timeout.rs

mod wapc {
    use std::sync::RwLock;

    #[link(wasm_import_module = "wapc")]
    extern "C" {
        fn __guest_request(op_ptr: *mut u8, ptr: *mut u8);
        fn __guest_response(ptr: *const u8, len: usize);
        fn __guest_error(ptr: *const u8, len: usize);
    }

    pub type CallResult = Result<Vec<u8>, Box<dyn std::error::Error + Sync + Send>>;
    type Handler = fn(&[u8]) -> CallResult;

    static REGISTRY: RwLock<Vec<(String, Handler)>> = RwLock::new(Vec::new());

    pub fn register_function(name: &str, f: Handler) {
        REGISTRY.write().unwrap().push((name.to_string(), f));
    }

    #[no_mangle]
    pub extern "C" fn __guest_call(op_len: i32, req_len: i32) -> i32 {
        let mut op_buf = vec![0u8; op_len as usize];
        let mut req_buf = vec![0u8; req_len as usize];
        unsafe { __guest_request(op_buf.as_mut_ptr(), req_buf.as_mut_ptr()) };
        let op = String::from_utf8_lossy(&op_buf).to_string();
        let handler = REGISTRY
            .read()
            .unwrap()
            .iter()
            .find(|(n, _)| *n == op)
            .map(|(_, f)| *f);
        match handler {
            Some(f) => match f(&req_buf) {
                Ok(res) => {
                    unsafe { __guest_response(res.as_ptr(), res.len()) };
                    1
                }
                Err(e) => {
                    let msg = e.to_string();
                    unsafe { __guest_error(msg.as_ptr(), msg.len()) };
                    0
                }
            },
            None => {
                let msg = format!("No handler registered for function \"{}\"", op);
                unsafe { __guest_error(msg.as_ptr(), msg.len()) };
                0
            }
        }
    }
}

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
