// The app side of a connection before its bytes are relayed: what every inbound protocol
// (SOCKS5 today; SOCKS4/4a and the HTTP proxy next) looks like to the code that drives it.
// Pure: bytes in, bytes out, no sockets and no libuv, so each protocol is tested by feeding it
// bytes one at a time.
//
// A driver feeds each read and acts on the steps until kNeedMore:
//   kSend    - write `reply`, then feed the rest of the input;
//   kRequest - request() is what the app wants; input past `consumed` is its first payload.
//              Open the outbound, then write success_reply() or failure_reply(kind);
//   kFail    - write `reply` if it is not empty, then close; `reason` says why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/error.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::handshake {

enum class Action : uint8_t {
  kNeedMore,  // every input byte was taken; feed the next read
  kSend,      // write `reply` to the app, then feed the rest of the input
  kRequest,   // handshake done: request() says what to open; input past `consumed` is payload
  kFail,      // write `reply` if it is not empty, then close; `reason` says why
};

struct Step {
  Action action = Action::kNeedMore;
  size_t consumed = 0;  // bytes taken from the front of this call's input
  // kSend, kFail: bytes for the app. Owned by the handshake; unchanged until it is destroyed.
  ByteView reply = {};
  // kFail: short, log-safe ("unsupported command BIND"); never contains credentials.
  std::string_view reason = {};
};

struct Request {
  enum class Command : uint8_t {
    kConnect,       // a TCP stream to `target`
    kUdpAssociate,  // a UDP relay: no single target; one outbound per destination
  };
  Command command = Command::kConnect;
  TargetAddress target;
};

// The last message of a handshake: bytes owned by the handshake (valid until it is destroyed)
// and a name for the log line ("connection refused").
struct Reply {
  ByteView bytes;
  std::string_view name;
};

class InboundHandshake {
 public:
  virtual ~InboundHandshake() = default;

  // "socks5": names the protocol in log lines.
  virtual std::string_view protocol() const = 0;
  // Takes bytes from the front of `input` (see the comment at the top).
  virtual Step feed(ByteView input) = 0;
  // After kRequest.
  virtual const Request& request() const = 0;
  // After kRequest, once the outbound is up.
  virtual Reply success_reply() = 0;
  // After a kUdpAssociate request, once the relay has taken the association: the success reply
  // naming where the app sends its datagrams (RFC 1928 §7: BND.ADDR, BND.PORT). No default:
  // a wrapper that forgot to pass it on once sent the app 0.0.0.0:0 (SniffHandshake), and a
  // protocol without UDP says so where it implements it.
  virtual Reply success_reply_bound(const TargetAddress& bound) = 0;
  // After kRequest, when the outbound could not be opened: the protocol's answer for `kind`.
  virtual Reply failure_reply(ErrorKind kind) = 0;
  // After kRequest: how many of the app's bytes this consumed that the outbound still carries
  // to the target (an HTTP proxy's plain request head, given to the outbound whole), so the
  // tunnel counts them as uplink. 0 for the proxy protocols whose request ends at the proxy.
  virtual size_t carried_bytes() const { return 0; }
};

}  // namespace vmlocal::handshake
