#pragma once

#include <sys/socket.h>

#include "socket_base.h"

namespace barelb {

class UdpSocket : public SocketBase<UdpSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit UdpSocket(const Napi::CallbackInfo& info);
  void Drain();

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value LocalPort(const Napi::CallbackInfo& info);
  Napi::Value CloseMethod(const Napi::CallbackInfo& info) { return Close(info); }
  Napi::Value RefMethod(const Napi::CallbackInfo& info) { return SetLoopRef(info, true); }
  Napi::Value UnrefMethod(const Napi::CallbackInfo& info) { return SetLoopRef(info, false); }

  int family_ = 0;
  int ifindex_ = 0;
};

}  // namespace barelb
