// barelb's data-plane addon: the two kinds of socket the speaker needs and nothing else.
// Protocol logic (what to answer, how frames look) lives in TypeScript.
#include <napi.h>

#include "icmp6_socket.h"
#include "packet_socket.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketSocket", barelb::PacketSocket::Init(env));
  exports.Set("Icmp6Socket", barelb::Icmp6Socket::Init(env));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(barelb_dataplane, Init)
