// Icmp6Socket: a raw ICMPv6 socket tied to one interface, for Neighbor Discovery.
//
//   new Icmp6Socket(ifindex, types: number[],
//                   onMessage(payload: Buffer, src: Buffer, dst: Buffer, ifindex, hopLimit),
//                   onError(err: Error))
//   .send(payload: Buffer, dst: Buffer, src?: Buffer): number   addresses are 16 bytes
//   .join(group: Buffer) / .leave(group: Buffer)   IPV6_JOIN_GROUP / IPV6_LEAVE_GROUP
//   .close() / .ref() / .unref()
//
// Only the ICMPv6 types listed pass the kernel's ICMP6_FILTER. Every message comes with the
// hop limit it arrived with and the interface and destination address it arrived on
// (recvmsg ancillary data), or -1 / 0 when the kernel gave none: the caller must drop
// Neighbor Discovery messages whose hop limit is not 255 (RFC 4861 section 7.1.1).
// Messages go out with hop limit 255; the kernel computes the ICMPv6 checksum. The source
// address is the one given to send() (any address: the socket has IPV6_FREEBIND, Linux >=
// 4.15), or else the kernel's choice. Joining a group
// makes the kernel send MLD reports, so snooping switches forward that group here.
#include "icmp6_socket.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

// glibc's netinet/in.h lacks it before 2.39; the value is the same on every architecture.
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

namespace barelb {

namespace {

constexpr size_t kMessageMax = 2048;

void SetInt(Napi::Env env, int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) {
    ThrowErrno(env, std::string("setsockopt(") + what + ")");
  }
}

in6_addr AddressArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Buffer<uint8_t> b = BufferArg(info, i, name);
  if (b.Length() != 16) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be 16 bytes");
  }
  in6_addr a;
  std::memcpy(&a, b.Data(), 16);
  return a;
}

}  // namespace

Napi::Function Icmp6Socket::Init(Napi::Env env) {
  return DefineClass(env, "Icmp6Socket",
                     {
                         InstanceMethod<&Icmp6Socket::Send>("send"),
                         InstanceMethod<&Icmp6Socket::JoinMethod>("join"),
                         InstanceMethod<&Icmp6Socket::LeaveMethod>("leave"),
                         InstanceMethod<&Icmp6Socket::CloseMethod>("close"),
                         InstanceMethod<&Icmp6Socket::RefMethod>("ref"),
                         InstanceMethod<&Icmp6Socket::UnrefMethod>("unref"),
                     });
}

Icmp6Socket::Icmp6Socket(const Napi::CallbackInfo& info) : SocketBase(info) {
  Napi::Env env = info.Env();
  ifindex_ = static_cast<int>(IntArg(info, 0, "ifindex", 1, INT32_MAX));
  if (info.Length() <= 1 || !info[1].IsArray()) {
    throw Napi::TypeError::New(env, "types must be an array of ICMPv6 types");
  }
  Napi::Array types = info[1].As<Napi::Array>();
  icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  for (uint32_t k = 0; k < types.Length(); k++) {
    Napi::Value t = types.Get(k);
    if (!t.IsNumber()) throw Napi::TypeError::New(env, "types must be numbers");
    int type = t.As<Napi::Number>().Int32Value();
    if (type < 0 || type > 255) throw Napi::RangeError::New(env, "ICMPv6 type out of range");
    ICMP6_FILTER_SETPASS(type, &filter);
  }
  Napi::Function onMessage = FunctionArg(info, 2, "onMessage");
  Napi::Function onError = FunctionArg(info, 3, "onError");

  char ifname[IF_NAMESIZE] = {0};
  if (if_indextoname(static_cast<unsigned>(ifindex_), ifname) == nullptr) {
    ThrowErrno(env, "if_indextoname");
  }

  fd_ = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd_ < 0) ThrowErrno(env, "socket(AF_INET6, IPPROTO_ICMPV6)");
  try {
    // The filter and the device binding go first, so nothing else is queued meanwhile.
    if (setsockopt(fd_, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0) {
      ThrowErrno(env, "setsockopt(ICMP6_FILTER)");
    }
    if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, ifname, sizeof ifname) != 0) {
      ThrowErrno(env, "setsockopt(SO_BINDTODEVICE)");
    }
    SetInt(env, fd_, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT");
    SetInt(env, fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
    SetInt(env, fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255, "IPV6_UNICAST_HOPS");
    SetInt(env, fd_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255, "IPV6_MULTICAST_HOPS");
    SetInt(env, fd_, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP");
    SetInt(env, fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex_, "IPV6_MULTICAST_IF");
    SetInt(env, fd_, IPPROTO_IPV6, IPV6_FREEBIND, 1, "IPV6_FREEBIND");
    int rcvbuf = 1 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    StartPolling(env, onMessage, onError);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

void Icmp6Socket::Drain() {
  uint8_t buf[kMessageMax];
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(in6_pktinfo))];
  for (int i = 0; i < kBatch && IsOpen(); i++) {
    sockaddr_in6 from{};
    iovec iov{buf, sizeof buf};
    msghdr msg;
    ssize_t n = 0;
    Received r = ReceiveOne(msg, iov, &from, sizeof from, control, sizeof control, n);
    if (r == Received::kStop) return;
    if (r == Received::kSkip) continue;
    int hopLimit = -1;
    int ifindex = 0;
    in6_addr dst{};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != IPPROTO_IPV6) continue;
      if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        std::memcpy(&hopLimit, CMSG_DATA(c), sizeof hopLimit);
      } else if (c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
        in6_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        ifindex = static_cast<int>(pi.ipi6_ifindex);
        dst = pi.ipi6_addr;
      }
    }
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Invoke(onData_,
           {Napi::Buffer<uint8_t>::Copy(env, buf, static_cast<size_t>(n)),
            Napi::Buffer<uint8_t>::Copy(env, from.sin6_addr.s6_addr, 16),
            Napi::Buffer<uint8_t>::Copy(env, dst.s6_addr, 16),
            Napi::Number::New(env, ifindex), Napi::Number::New(env, hopLimit)});
  }
}

Napi::Value Icmp6Socket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  Napi::Buffer<uint8_t> payload = BufferArg(info, 0, "payload");
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_addr = AddressArg(info, 1, "dst");
  to.sin6_scope_id = static_cast<uint32_t>(ifindex_);
  iovec iov{payload.Data(), payload.Length()};
  msghdr msg{};
  msg.msg_name = &to;
  msg.msg_namelen = sizeof to;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // With a source address: IPV6_PKTINFO names it (IPV6_FREEBIND lets it be an address this
  // host does not have, such as the address being advertised) and the interface.
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  bool hasSrc = info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull();
  if (hasSrc) {
    in6_pktinfo pi{};
    pi.ipi6_addr = AddressArg(info, 2, "src");
    pi.ipi6_ifindex = static_cast<unsigned>(ifindex_);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
  }
  ssize_t n;
  do {
    n = sendmsg(fd_, &msg, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(env, "sendmsg");
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value Icmp6Socket::Membership(const Napi::CallbackInfo& info, bool join) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  ipv6_mreq mreq{};
  mreq.ipv6mr_multiaddr = AddressArg(info, 0, "group");
  mreq.ipv6mr_interface = static_cast<unsigned>(ifindex_);
  int opt = join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP;
  if (setsockopt(fd_, IPPROTO_IPV6, opt, &mreq, sizeof mreq) != 0) {
    ThrowErrno(env, join ? "setsockopt(IPV6_JOIN_GROUP)" : "setsockopt(IPV6_LEAVE_GROUP)");
  }
  return env.Undefined();
}

}  // namespace barelb
