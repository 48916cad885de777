// Shared machinery of the addon's sockets: a non-blocking file descriptor watched by a
// uv_poll handle on the Node event loop, JavaScript callbacks for data and errors, and a
// close that is safe to call twice, from inside a callback, or never (the object then stays
// alive: an open socket holds a strong reference to its JavaScript object).
#pragma once

#include <napi.h>
#include <uv.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

#include "errors.h"

namespace barelb {

template <typename T>
class SocketBase : public Napi::ObjectWrap<T> {
 public:
  explicit SocketBase(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {}

  ~SocketBase() override { Shutdown(); }

 protected:
  // At most this many datagrams are read per readiness event before control returns to
  // the event loop (epoll is level-triggered: the rest is read on the next turn).
  static constexpr int kBatch = 64;
  // Error callbacks for consecutive POLLERR wake-ups without a pending socket error; past
  // this the watcher is stopped for good rather than spinning the loop.
  static constexpr int kMaxSpuriousErrors = 16;

  // Called by the subclass constructor once fd_ is fully configured.
  void StartPolling(Napi::Env env, Napi::Function onData, Napi::Function onError) {
    onData_ = Napi::Persistent(onData);
    onError_ = Napi::Persistent(onError);
    async_ = std::make_unique<Napi::AsyncContext>(env, "barelb:socket");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      throw Napi::Error::New(env, "cannot get the event loop");
    }
    poll_ = new uv_poll_t;
    int rc = uv_poll_init(loop, poll_, fd_);
    if (rc != 0) {
      delete poll_;
      poll_ = nullptr;
      throw ErrnoError(env, -rc, "uv_poll_init");
    }
    poll_->data = this;
    rc = uv_poll_start(poll_, UV_READABLE, &SocketBase::OnPoll);
    if (rc != 0) {
      Shutdown();
      throw ErrnoError(env, -rc, "uv_poll_start");
    }
    this->Ref();  // the open socket keeps its JavaScript object alive
    referenced_ = true;
  }

  bool IsOpen() const { return fd_ >= 0; }

  void RequireOpen(Napi::Env env) const {
    if (fd_ < 0) throw ErrnoError(env, EBADF, "closed");
  }

  // close(): stops polling, closes the descriptor, drops the callbacks. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    if (referenced_) {
      referenced_ = false;
      this->Unref();
    }
    return info.Env().Undefined();
  }

  // ref()/unref(): whether the open socket keeps the event loop alive (default: it does).
  Napi::Value SetLoopRef(const Napi::CallbackInfo& info, bool ref) {
    if (poll_ != nullptr) {
      if (ref) {
        uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
      } else {
        uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
      }
    }
    return info.Env().Undefined();
  }

  // Reports a non-fatal socket error to the onError callback.
  enum class Received { kDatagram, kSkip, kStop };

  // One recvmsg into `iov`, with the sender's address and the control messages: kDatagram
  // with its length in `n`; kSkip for an interrupted call or a truncated datagram (read the
  // next); kStop when nothing is left to read now, or on an error (already reported).
  Received ReceiveOne(msghdr& msg, iovec& iov, void* from, socklen_t fromLen, void* control,
                      size_t controlLen, ssize_t& n) {
    msg = msghdr{};
    msg.msg_name = from;
    msg.msg_namelen = fromLen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = controlLen;
    n = recvmsg(fd_, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) return Received::kSkip;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Received::kStop;
      ReportError(errno, "recvmsg");
      return Received::kStop;
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) return Received::kSkip;  // larger than expected
    return Received::kDatagram;
  }

  void ReportError(int err, const char* syscall) {
    Napi::Env env = this->Env();
    Napi::HandleScope scope(env);
    Napi::Error e = ErrnoError(env, err, syscall);
    Invoke(onError_, {e.Value()});
  }

  // Calls a JavaScript callback from a libuv callback. The caller holds a HandleScope.
  // An exception thrown by the callback is a bug in its code: it becomes an
  // uncaughtException, as it would for any other event-loop callback.
  bool Invoke(Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
    if (fn.IsEmpty()) return false;
    Napi::Env env = this->Env();
    try {
      fn.MakeCallback(this->Value(), args, *async_);
      return true;
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
      return false;
    }
  }

  Napi::FunctionReference onData_;
  Napi::FunctionReference onError_;
  int fd_ = -1;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<SocketBase*>(handle->data);
    if (self == nullptr || self->fd_ < 0) return;
    if (status < 0) {
      self->OnPollError(status);
      return;
    }
    self->spurious_ = 0;
    static_cast<T*>(self)->Drain();
  }

  // libuv stops the watcher when epoll reports POLLERR (for example ENETDOWN on a packet
  // socket when its link goes down) and passes UV_EBADF. Read and clear the socket's
  // pending error, report it, and watch again: the socket works again once the link is up.
  void OnPollError(int status) {
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
    bool spurious = soerr == 0;
    spurious_ = spurious ? spurious_ + 1 : 0;
    ReportError(spurious ? -status : soerr, spurious ? "poll" : "socket");
    if (fd_ < 0 || poll_ == nullptr) return;  // closed by the error callback
    if (spurious_ > kMaxSpuriousErrors) return;  // give up; the owner sees the errors
    int rc = uv_poll_start(poll_, UV_READABLE, &SocketBase::OnPoll);
    if (rc != 0) ReportError(-rc, "uv_poll_start");
  }

  static void OnClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

  void Shutdown() {
    if (poll_ != nullptr) {
      poll_->data = nullptr;
      // uv_close stops the watcher and removes the descriptor from epoll at once, so the
      // descriptor can be closed right after; the handle memory is freed in OnClosed.
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), &SocketBase::OnClosed);
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    onData_.Reset();
    onError_.Reset();
  }

  uv_poll_t* poll_ = nullptr;
  std::unique_ptr<Napi::AsyncContext> async_;
  bool referenced_ = false;
  int spurious_ = 0;
};

// Reads an integer argument in [min, max] or throws a TypeError naming it.
inline int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min,
                      int64_t max) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= static_cast<double>(min) && v <= static_cast<double>(max)) ||
      v != static_cast<double>(static_cast<int64_t>(v))) {
    throw Napi::RangeError::New(env, std::string(name) + " is out of range");
  }
  return static_cast<int64_t>(v);
}

inline Napi::Function FunctionArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a function");
  }
  return info[i].As<Napi::Function>();
}

inline Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i,
                                       const char* name) {
  if (info.Length() <= i || !info[i].IsBuffer()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Buffer");
  }
  return info[i].As<Napi::Buffer<uint8_t>>();
}

}  // namespace barelb
