// One error type for every layer: a typed kind plus a log-safe message. Decisions (SOCKS and
// HTTP reply codes, failover, log wording) are taken from the kind, never from the text.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vmlocal {

enum class ErrorKind : uint8_t {
  kResolve,       // a name did not resolve (DNS)
  kRefused,       // TCP connection refused
  kUnreachable,   // network or host unreachable, or a target the protocol cannot carry
  kTimeout,       // a deadline passed
  kReset,         // the connection was reset or broken mid-stream
  kProtocol,      // a layer above TCP failed (TLS, WebSocket, a malformed VMess response)
  kNoResponse,    // the VMess server closed without answering: refused login, clock, or target
  kBlocked,       // refused by this client's own rules ([route] block)
  kRefusedLogin,  // a probe showed the server refuses us (outbound/server_state.hpp): the
                  // tunnel fails at once, and the reason is logged once, not per tunnel
  kStopping,      // this client is stopping: never the server's doing, never counted against it
  kOther,
};

// "DNS", "TCP refused", ...: a short tag for log lines and tests.
std::string_view error_kind_name(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::kOther;
  // Names the layer and the cause, e.g. "connect 127.0.0.1:1: connection refused". Never holds
  // a secret (UUID, key, password).
  std::string message;
};

// A value or an Error (std::expected arrives with C++23; this is the part we need).
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit, like std::expected
  Result(Error error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() {
    assert(ok());
    return std::get<0>(state_);
  }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, Error> state_;
};

}  // namespace vmlocal
