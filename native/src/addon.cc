// barelb's data-plane addon: the kinds of socket the speaker needs and nothing else.
// Protocol logic (what to answer, how frames look) lives in TypeScript.
#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "icmp6_socket.h"
#include "packet_socket.h"
#include "udp_socket.h"
#include "tcp_socket.h"

namespace {

// trimMemory(): returns freed malloc memory to the kernel (glibc's malloc_trim). glibc keeps
// memory freed in the middle of its heap (after a burst of TLS records, HTTP chunks, list
// pages) mapped; the speaker calls this when a burst is over. true if memory was released,
// false if none was, undefined where the C library has no such call (musl).
Napi::Value TrimMemory(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return info.Env().Undefined();
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketSocket", barelb::PacketSocket::Init(env));
  exports.Set("Icmp6Socket", barelb::Icmp6Socket::Init(env));
  exports.Set("UdpSocket", barelb::UdpSocket::Init(env));
  exports.Set("tcpSocket", Napi::Function::New(env, barelb::TcpSocket, "tcpSocket"));
  exports.Set("trimMemory", Napi::Function::New(env, TrimMemory, "trimMemory"));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(barelb_dataplane, Init)
