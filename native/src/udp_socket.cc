// UdpSocket: a UDP socket that reports the TTL (IPv4) or hop limit (IPv6) each datagram
// arrived with, for protocols that must drop packets from more than one hop away (BFD single
// hop, RFC 5881 5; the GTSM of RFC 5082). Node's dgram cannot see either.
//
//   new UdpSocket(family: 4 | 6, address: Buffer, port: number, ifindex: number,
//                 onMessage(payload: Buffer, src: Buffer, srcPort, dst: Buffer, ifindex, ttl),
//                 onError(err: Error))
//   .send(payload: Buffer, dst: Buffer, port: number): number
//   .localPort(): number
//   .close() / .ref() / .unref()
//
// Addresses are 4 or 16 bytes, per family; an all-zero address binds the wildcard. `ifindex`
// is the scope of an IPv6 link-local address (bind and send), else 0. An IPv6 socket is
// IPV6_V6ONLY, so an IPv4 socket can bind the same port beside it. Datagrams leave with TTL /
// hop limit 255. Every datagram comes with the TTL or hop limit it arrived with and the
// destination address and interface it arrived on (recvmsg ancillary data: IP_RECVTTL and
// IP_PKTINFO, or IPV6_RECVHOPLIMIT and IPV6_RECVPKTINFO), or -1 / zeros / 0 when the kernel
// gave none. Binding port 3784 needs no capability.
#include "udp_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace barelb {

namespace {

constexpr size_t kDatagramMax = 2048;

void SetInt(Napi::Env env, int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) {
    ThrowErrno(env, std::string("setsockopt(") + what + ")");
  }
}

// Fills a sockaddr for (address, port) of the socket's family; returns its length.
socklen_t AddressArg(const Napi::CallbackInfo& info, size_t i, const char* name, int family,
                     uint16_t port, int ifindex, sockaddr_storage* out) {
  Napi::Buffer<uint8_t> b = BufferArg(info, i, name);
  std::memset(out, 0, sizeof *out);
  if (family == AF_INET) {
    if (b.Length() != 4) {
      throw Napi::RangeError::New(info.Env(), std::string(name) + " must be 4 bytes");
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, b.Data(), 4);
    return sizeof(sockaddr_in);
  }
  if (b.Length() != 16) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be 16 bytes");
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, b.Data(), 16);
  if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) sin6->sin6_scope_id = static_cast<uint32_t>(ifindex);
  return sizeof(sockaddr_in6);
}

}  // namespace

Napi::Function UdpSocket::Init(Napi::Env env) {
  return DefineClass(env, "UdpSocket",
                     {
                         InstanceMethod<&UdpSocket::Send>("send"),
                         InstanceMethod<&UdpSocket::LocalPort>("localPort"),
                         InstanceMethod<&UdpSocket::CloseMethod>("close"),
                         InstanceMethod<&UdpSocket::RefMethod>("ref"),
                         InstanceMethod<&UdpSocket::UnrefMethod>("unref"),
                     });
}

UdpSocket::UdpSocket(const Napi::CallbackInfo& info) : SocketBase(info) {
  Napi::Env env = info.Env();
  int version = static_cast<int>(IntArg(info, 0, "family", 4, 6));
  if (version != 4 && version != 6) throw Napi::RangeError::New(env, "family must be 4 or 6");
  family_ = version == 4 ? AF_INET : AF_INET6;
  uint16_t port = static_cast<uint16_t>(IntArg(info, 2, "port", 0, 65535));
  ifindex_ = static_cast<int>(IntArg(info, 3, "ifindex", 0, INT32_MAX));
  sockaddr_storage local;
  socklen_t localLen = AddressArg(info, 1, "address", family_, port, ifindex_, &local);
  Napi::Function onMessage = FunctionArg(info, 4, "onMessage");
  Napi::Function onError = FunctionArg(info, 5, "onError");

  fd_ = socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd_ < 0) ThrowErrno(env, family_ == AF_INET ? "socket(AF_INET)" : "socket(AF_INET6)");
  try {
    if (family_ == AF_INET) {
      SetInt(env, fd_, IPPROTO_IP, IP_TTL, 255, "IP_TTL");
      SetInt(env, fd_, IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL");
      SetInt(env, fd_, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
    } else {
      SetInt(env, fd_, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
      SetInt(env, fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255, "IPV6_UNICAST_HOPS");
      SetInt(env, fd_, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT");
      SetInt(env, fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
    }
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), localLen) != 0) {
      ThrowErrno(env, family_ == AF_INET ? "bind(AF_INET)" : "bind(AF_INET6)");
    }
    StartPolling(env, onMessage, onError);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

void UdpSocket::Drain() {
  uint8_t buf[kDatagramMax];
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(in6_pktinfo)) +
                                   CMSG_SPACE(sizeof(in_pktinfo))];
  for (int i = 0; i < kBatch && IsOpen(); i++) {
    sockaddr_storage from{};
    iovec iov{buf, sizeof buf};
    msghdr msg;
    ssize_t n = 0;
    Received r = ReceiveOne(msg, iov, &from, sizeof from, control, sizeof control, n);
    if (r == Received::kStop) return;
    if (r == Received::kSkip) continue;
    int ttl = -1;
    int ifindex = 0;
    uint8_t dst[16] = {};
    size_t addrLen = family_ == AF_INET ? 4 : 16;
    const uint8_t* src = nullptr;
    uint16_t srcPort = 0;
    if (family_ == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&from);
      src = reinterpret_cast<const uint8_t*>(&sin->sin_addr);
      srcPort = ntohs(sin->sin_port);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&from);
      src = sin6->sin6_addr.s6_addr;
      srcPort = ntohs(sin6->sin6_port);
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL &&
          c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
      } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
                 c->cmsg_len >= CMSG_LEN(sizeof(in_pktinfo))) {
        in_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        ifindex = pi.ipi_ifindex;
        std::memcpy(dst, &pi.ipi_addr, 4);
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT &&
                 c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
                 c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
        in6_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        ifindex = static_cast<int>(pi.ipi6_ifindex);
        std::memcpy(dst, pi.ipi6_addr.s6_addr, 16);
      }
    }
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Invoke(onData_, {Napi::Buffer<uint8_t>::Copy(env, buf, static_cast<size_t>(n)),
                     Napi::Buffer<uint8_t>::Copy(env, src, addrLen),
                     Napi::Number::New(env, srcPort),
                     Napi::Buffer<uint8_t>::Copy(env, dst, addrLen),
                     Napi::Number::New(env, ifindex), Napi::Number::New(env, ttl)});
  }
}

Napi::Value UdpSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  Napi::Buffer<uint8_t> payload = BufferArg(info, 0, "payload");
  uint16_t port = static_cast<uint16_t>(IntArg(info, 2, "port", 1, 65535));
  sockaddr_storage to;
  socklen_t toLen = AddressArg(info, 1, "dst", family_, port, ifindex_, &to);
  ssize_t n;
  do {
    n = sendto(fd_, payload.Data(), payload.Length(), MSG_DONTWAIT,
               reinterpret_cast<sockaddr*>(&to), toLen);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(env, "sendto");
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value UdpSocket::LocalPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    ThrowErrno(env, "getsockname");
  }
  uint16_t port = family_ == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port;
  return Napi::Number::New(env, ntohs(port));
}

}  // namespace barelb
