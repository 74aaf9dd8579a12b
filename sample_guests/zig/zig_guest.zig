//! waPC sample guest in Zig, written in the style of the Zig waPC SDK:
//! `__console_log` is imported from module "env" (not "wapc"), the other
//! waPC imports from "wapc"; handlers are registered into a table by the
//! exported `wapc_init`, and `__guest_call` dispatches through that table.
//! Build (Zig 0.17, from PyPI `ziglang`):
//!   python -m ziglang build-exe zig_guest.zig -target wasm32-freestanding \
//!     -fno-entry -O ReleaseSmall --export=__guest_call --export=wapc_init -femit-bin=zig_guest.wasm
const std = @import("std");

extern "wapc" fn __guest_request(operation_ptr: [*]u8, payload_ptr: [*]u8) void;
extern "wapc" fn __guest_response(ptr: [*]const u8, len: usize) void;
extern "wapc" fn __guest_error(ptr: [*]const u8, len: usize) void;
extern "env" fn __console_log(ptr: [*]const u8, len: usize) void;

const allocator = std.heap.wasm_allocator;

/// A handler returns its response bytes, or an error whose name is sent as
/// the guest error.
pub const Handler = *const fn (payload: []u8) anyerror![]const u8;

const Entry = struct {
    name: []const u8,
    handler: Handler,
};

var table: [16]Entry = undefined;
var table_len: usize = 0;

pub fn register(name: []const u8, handler: Handler) void {
    if (table_len < table.len) {
        table[table_len] = .{ .name = name, .handler = handler };
        table_len += 1;
    }
}

pub fn consoleLog(msg: []const u8) void {
    __console_log(msg.ptr, msg.len);
}

fn guestError(msg: []const u8) void {
    __guest_error(msg.ptr, msg.len);
}

fn echo(payload: []u8) anyerror![]const u8 {
    return payload;
}

fn log(payload: []u8) anyerror![]const u8 {
    _ = payload;
    consoleLog("hello from zig_guest");
    return "logged";
}

export fn wapc_init() void {
    register("echo", echo);
    register("log", log);
}

export fn __guest_call(operation_size: usize, payload_size: usize) bool {
    // +1 keeps a valid pointer even for 0-byte requests.
    const operation = allocator.alloc(u8, operation_size + 1) catch {
        guestError("out of memory");
        return false;
    };
    defer allocator.free(operation);
    const payload = allocator.alloc(u8, payload_size + 1) catch {
        guestError("out of memory");
        return false;
    };
    defer allocator.free(payload);
    __guest_request(operation.ptr, payload.ptr);

    const op = operation[0..operation_size];
    var i: usize = 0;
    while (i < table_len) : (i += 1) {
        if (std.mem.eql(u8, table[i].name, op)) {
            const response = table[i].handler(payload[0..payload_size]) catch |err| {
                guestError(@errorName(err));
                return false;
            };
            __guest_response(response.ptr, response.len);
            return true;
        }
    }
    guestError("Could not find function");
    return false;
}
