#include "errors.h"

#include <uv.h>

#include <cerrno>
#include <cstring>

namespace barelb {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall) {
  // On Unix libuv's error codes are the negated errno values, so uv_err_name gives the
  // symbolic name ("EPERM") of any errno libuv knows; others come back as "Unknown system
  // error", which we replace with a stable spelling.
  const char* name = uv_err_name(-err);
  std::string code = (name == nullptr || std::strncmp(name, "Unknown", 7) == 0)
                         ? "ERRNO_" + std::to_string(err)
                         : std::string(name);
  std::string message = syscall + " " + code + ": " + std::strerror(err);
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

void ThrowErrno(Napi::Env env, const std::string& syscall) {
  int err = errno;
  throw ErrnoError(env, err, syscall);
}

}  // namespace barelb
