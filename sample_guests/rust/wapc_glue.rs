//! Hand-written waPC guest glue shared by the Rust sample guests, in the style
//! of the `wapc-guest` crate (std only, no crates): the `wapc` imports, the
//! handler registry, `__guest_call` dispatch, `host_call` and `console_log`.
//! Included as `#[path = "wapc_glue.rs"] mod wapc;` by rust_guest.rs and
//! rust_guest_timeout.rs; imports a guest never calls are left out of its .wasm.

// Not every guest uses every helper (the timeout guest makes no host calls).
#![allow(dead_code)]

use std::sync::RwLock;

#[link(wasm_import_module = "wapc")]
extern "C" {
    fn __guest_request(op_ptr: *mut u8, ptr: *mut u8);
    fn __guest_response(ptr: *const u8, len: usize);
    fn __guest_error(ptr: *const u8, len: usize);
    fn __host_call(
        bd_ptr: *const u8, bd_len: usize,
        ns_ptr: *const u8, ns_len: usize,
        op_ptr: *const u8, op_len: usize,
        ptr: *const u8, len: usize,
    ) -> usize;
    fn __host_response_len() -> usize;
    fn __host_response(ptr: *mut u8);
    fn __host_error_len() -> usize;
    fn __host_error(ptr: *mut u8);
    fn __console_log(ptr: *const u8, len: usize);
}

pub type CallResult = Result<Vec<u8>, Box<dyn std::error::Error + Sync + Send>>;
type Handler = fn(&[u8]) -> CallResult;

static REGISTRY: RwLock<Vec<(String, Handler)>> = RwLock::new(Vec::new());

pub fn register_function(name: &str, f: Handler) {
    REGISTRY.write().unwrap().push((name.to_string(), f));
}

pub fn console_log(s: &str) {
    unsafe { __console_log(s.as_ptr(), s.len()) }
}

pub fn host_call(binding: &str, ns: &str, op: &str, msg: &[u8]) -> CallResult {
    let callresult = unsafe {
        __host_call(
            binding.as_ptr(), binding.len(),
            ns.as_ptr(), ns.len(),
            op.as_ptr(), op.len(),
            msg.as_ptr(), msg.len(),
        )
    };
    if callresult != 1 {
        let len = unsafe { __host_error_len() };
        let mut buf = vec![0u8; len];
        unsafe { __host_error(buf.as_mut_ptr()) };
        Err(format!("Host error: {}", String::from_utf8_lossy(&buf)).into())
    } else {
        let len = unsafe { __host_response_len() };
        let mut buf = vec![0u8; len];
        unsafe { __host_response(buf.as_mut_ptr()) };
        Ok(buf)
    }
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
