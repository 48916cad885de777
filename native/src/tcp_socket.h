#pragma once

#include <napi.h>

namespace barelb {

// tcpSocket(peer, password, source): a non-blocking, close-on-exec TCP socket of the peer's
// family, with the RFC 2385 MD5 key for the peer (TCP_MD5SIG) when password is a string, and
// bound to source when it is one. Returns the descriptor, not connected: Node wraps it in a
// net.Socket and connects it (the key must be in place before the SYN).
Napi::Value TcpSocket(const Napi::CallbackInfo& info);

}  // namespace barelb
