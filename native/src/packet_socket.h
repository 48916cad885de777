#pragma once

#include "socket_base.h"

namespace barelb {

class PacketSocket : public SocketBase<PacketSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit PacketSocket(const Napi::CallbackInfo& info);
  void Drain();

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value SetFilter(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value CloseMethod(const Napi::CallbackInfo& info) { return Close(info); }
  Napi::Value RefMethod(const Napi::CallbackInfo& info) { return SetLoopRef(info, true); }
  Napi::Value UnrefMethod(const Napi::CallbackInfo& info) { return SetLoopRef(info, false); }

  int ifindex_ = 0;
};

}  // namespace barelb
