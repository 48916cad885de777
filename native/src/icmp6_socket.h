#pragma once

#include "socket_base.h"

namespace barelb {

class Icmp6Socket : public SocketBase<Icmp6Socket> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Icmp6Socket(const Napi::CallbackInfo& info);
  void Drain();

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Membership(const Napi::CallbackInfo& info, bool join);
  Napi::Value JoinMethod(const Napi::CallbackInfo& info) { return Membership(info, true); }
  Napi::Value LeaveMethod(const Napi::CallbackInfo& info) { return Membership(info, false); }
  Napi::Value CloseMethod(const Napi::CallbackInfo& info) { return Close(info); }
  Napi::Value RefMethod(const Napi::CallbackInfo& info) { return SetLoopRef(info, true); }
  Napi::Value UnrefMethod(const Napi::CallbackInfo& info) { return SetLoopRef(info, false); }

  int ifindex_ = 0;
};

}  // namespace barelb
