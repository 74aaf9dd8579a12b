//! waPC sample guest in Rust, written in the style of the `wapc-guest` crate
//! (std only, no crates: the SDK-like part is the `wapc` module, wapc_glue.rs).
//! Handlers are registered in the exported `wapc_init`; `__guest_call`
//! dispatches through the registry; host calls go through the `wapc` imports,
//! and — like the Rust SDK — anything but 1 from `__host_call` is a failure.
//!
//! Build (Debian's rustc 1.63 + libstd-rust-dev-wasm32):
//!   rustc --edition 2021 --crate-type cdylib -C opt-level=s -C strip=symbols \
//!     --target wasm32-unknown-unknown -o rust_guest.wasm rust_guest.rs
//!   (and --target wasm32-wasi -o rust_guest_wasi.wasm)

#[path = "wapc_glue.rs"]
mod wapc;

use wapc::{host_call, register_function, CallResult};

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function("echo", echo);
    register_function("ping_host", ping_host);
    register_function("log", log);
    register_function("panic", panic_op);
}

fn echo(msg: &[u8]) -> CallResult {
    Ok(msg.to_vec())
}

/// One host call myBinding:sample:ping with the payload; returns the host's
/// response, or a guest error "Host error: <host error text>".
fn ping_host(msg: &[u8]) -> CallResult {
    host_call("myBinding", "sample", "ping", msg)
}

fn log(_msg: &[u8]) -> CallResult {
    wapc::console_log("hello from rust_guest");
    Ok(b"logged".to_vec())
}

/// panic: a Rust panic. wasm32-unknown-unknown aborts with `unreachable`
/// (a trap); the wasi build first writes the panic message to stderr.
fn panic_op(_msg: &[u8]) -> CallResult {
    panic!("rust guest panicked on purpose");
}
