// Errors for JavaScript that look like Node's own system errors: message
// "<syscall> <CODE>: <strerror>", and properties code ("EPERM"), errno (negative, as in
// libuv and Node) and syscall, so callers can branch on err.code.
#pragma once

#include <napi.h>

#include <string>

namespace barelb {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall);

// Throws ErrnoError for the current errno as a C++ exception (node-addon-api turns it into
// a JavaScript exception when it leaves the binding).
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& syscall);

}  // namespace barelb
