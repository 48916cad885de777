#include "tcp_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"

namespace barelb {

namespace {

// An address literal (no port) as a sockaddr of its family, or false if it is neither.
bool ParseAddress(const std::string& text, sockaddr_storage* out, socklen_t* len) {
  std::memset(out, 0, sizeof *out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    *len = sizeof *v4;
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    *len = sizeof *v6;
    return true;
  }
  return false;
}

// Argument i as an address, or nullopt-like false when it is null or undefined.
bool AddressArg(const Napi::CallbackInfo& info, size_t i, const char* name, bool optional,
                sockaddr_storage* out, socklen_t* len) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) {
    if (optional) return false;
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  }
  if (!info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  }
  if (!ParseAddress(info[i].As<Napi::String>().Utf8Value(), out, len)) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " is not an IP address");
  }
  return true;
}

// Closes fd without touching errno, then throws the error of syscall.
[[noreturn]] void Fail(Napi::Env env, int fd, const char* syscall) {
  int err = errno;
  ::close(fd);
  throw ErrnoError(env, err, syscall);
}

}  // namespace

Napi::Value TcpSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_storage peer{};
  socklen_t peerLen = 0;
  AddressArg(info, 0, "peer", false, &peer, &peerLen);

  bool hasPassword = info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined();
  std::string password;
  if (hasPassword) {
    if (!info[1].IsString()) throw Napi::TypeError::New(env, "password must be a string");
    password = info[1].As<Napi::String>().Utf8Value();
    if (password.empty() || password.size() > TCP_MD5SIG_MAXKEYLEN) {
      throw Napi::RangeError::New(
          env, "password must be 1 to " + std::to_string(TCP_MD5SIG_MAXKEYLEN) + " bytes");
    }
  }

  sockaddr_storage source{};
  socklen_t sourceLen = 0;
  bool hasSource = AddressArg(info, 2, "source", true, &source, &sourceLen);
  if (hasSource && source.ss_family != peer.ss_family) {
    throw Napi::TypeError::New(env, "source and peer must be of one address family");
  }

  int fd = ::socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) ThrowErrno(env, "socket(SOCK_STREAM)");

  if (hasPassword) {
    tcp_md5sig md{};
    std::memcpy(&md.tcpm_addr, &peer, peerLen);
    md.tcpm_keylen = static_cast<uint16_t>(password.size());
    std::memcpy(md.tcpm_key, password.data(), password.size());
    if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md, sizeof md) != 0) {
      Fail(env, fd, "setsockopt(TCP_MD5SIG)");
    }
  }
  if (hasSource && bind(fd, reinterpret_cast<sockaddr*>(&source), sourceLen) != 0) {
    Fail(env, fd, "bind");
  }
  return Napi::Number::New(env, fd);
}

}  // namespace barelb
