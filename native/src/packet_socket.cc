// PacketSocket: an AF_PACKET raw socket bound to one interface and one EtherType, with a
// classic BPF filter attached before it is bound (so no unfiltered frame is ever queued).
//
//   new PacketSocket(ifindex, ethertype, filter: Uint32Array | null,
//                    onFrame(frame: Buffer, pktType: number), onError(err: Error))
//   .send(frame: Buffer): number        whole Ethernet frame, sent on the bound interface
//   .setFilter(filter: Uint32Array)     replaces the filter atomically
//   .stats(): { packets, drops }        kernel counters since the previous call
//   .close() / .ref() / .unref()
//
// A filter is flat: [code, jt, jf, k] per instruction, so the JavaScript side need not
// know this machine's byte order or struct layout.
#include "packet_socket.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace barelb {

namespace {

constexpr size_t kFrameMax = 2048;

std::vector<sock_filter> FilterArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw Napi::TypeError::New(env, "filter must be a Uint32Array");
  }
  Napi::Uint32Array a = info[i].As<Napi::Uint32Array>();
  size_t n = a.ElementLength();
  if (n == 0 || n % 4 != 0 || n / 4 > BPF_MAXINSNS) {
    throw Napi::RangeError::New(env, "filter must hold 1 to 4096 instructions of 4 numbers");
  }
  std::vector<sock_filter> prog(n / 4);
  for (size_t k = 0; k < prog.size(); k++) {
    uint32_t code = a[4 * k], jt = a[4 * k + 1], jf = a[4 * k + 2];
    if (code > 0xffff || jt > 0xff || jf > 0xff) {
      throw Napi::RangeError::New(env, "filter instruction out of range");
    }
    prog[k] = sock_filter{static_cast<uint16_t>(code), static_cast<uint8_t>(jt),
                          static_cast<uint8_t>(jf), a[4 * k + 3]};
  }
  return prog;
}

void AttachFilter(Napi::Env env, int fd, std::vector<sock_filter>& prog) {
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0) {
    ThrowErrno(env, "setsockopt(SO_ATTACH_FILTER)");
  }
}

}  // namespace

Napi::Function PacketSocket::Init(Napi::Env env) {
  return DefineClass(env, "PacketSocket",
                     {
                         InstanceMethod<&PacketSocket::Send>("send"),
                         InstanceMethod<&PacketSocket::SetFilter>("setFilter"),
                         InstanceMethod<&PacketSocket::Stats>("stats"),
                         InstanceMethod<&PacketSocket::CloseMethod>("close"),
                         InstanceMethod<&PacketSocket::RefMethod>("ref"),
                         InstanceMethod<&PacketSocket::UnrefMethod>("unref"),
                     });
}

PacketSocket::PacketSocket(const Napi::CallbackInfo& info) : SocketBase(info) {
  Napi::Env env = info.Env();
  ifindex_ = static_cast<int>(IntArg(info, 0, "ifindex", 1, INT32_MAX));
  int ethertype = static_cast<int>(IntArg(info, 1, "ethertype", 0, 0xffff));
  bool hasFilter = info.Length() > 2 && !info[2].IsNull() && !info[2].IsUndefined();
  std::vector<sock_filter> prog;
  if (hasFilter) prog = FilterArg(info, 2);
  Napi::Function onFrame = FunctionArg(info, 3, "onFrame");
  Napi::Function onError = FunctionArg(info, 4, "onError");

  // Protocol 0: the socket receives nothing until bind() names the EtherType, by which
  // time the filter is in place.
  fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) ThrowErrno(env, "socket(AF_PACKET)");
  try {
    if (hasFilter) AttachFilter(env, fd_, prog);
    int rcvbuf = 1 << 20;  // absorbs bursts; the kernel caps it at net.core.rmem_max
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(static_cast<uint16_t>(ethertype));
    sll.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
      ThrowErrno(env, "bind(AF_PACKET)");
    }
    StartPolling(env, onFrame, onError);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

void PacketSocket::Drain() {
  uint8_t buf[kFrameMax];
  for (int i = 0; i < kBatch && IsOpen(); i++) {
    sockaddr_ll from{};
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(fd_, buf, sizeof buf, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from),
                         &fromlen);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      ReportError(errno, "recvfrom");
      return;
    }
    // A truncated frame is delivered cut at kFrameMax: the codecs reject what they need
    // and do not have, and no frame this socket is for comes close to that size.
    size_t len = static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Invoke(onData_, {Napi::Buffer<uint8_t>::Copy(env, buf, len),
                     Napi::Number::New(env, from.sll_pkttype)});
  }
}

Napi::Value PacketSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  Napi::Buffer<uint8_t> frame = BufferArg(info, 0, "frame");
  if (frame.Length() < ETH_HLEN) throw Napi::RangeError::New(env, "frame is too short");
  ssize_t n;
  do {
    n = send(fd_, frame.Data(), frame.Length(), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(env, "send");
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value PacketSocket::SetFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  std::vector<sock_filter> prog = FilterArg(info, 0);
  AttachFilter(env, fd_, prog);
  return env.Undefined();
}

Napi::Value PacketSocket::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  tpacket_stats st{};
  socklen_t len = sizeof st;
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) {
    ThrowErrno(env, "getsockopt(PACKET_STATISTICS)");
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("packets", Napi::Number::New(env, st.tp_packets));
  o.Set("drops", Napi::Number::New(env, st.tp_drops));
  return o;
}

}  // namespace barelb
