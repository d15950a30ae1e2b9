// The app side of one connection's SOCKS5 handshake (RFC 1928) — greeting, optional
// username/password (RFC 1929), request — as a push-style state machine. Pure: no sockets, no
// libuv.
//
// The parser copies what it needs into a fixed internal buffer, so the caller never presents a
// byte twice, and it stops after each message that needs an answer. A read callback drives it:
//
//   ByteView in = bytes just read;
//   for (;;) {
//     Step step = parser.feed(in);
//     in = in.subspan(step.consumed);
//     switch (step.action) {
//       case Action::kNeedMore: return;                          // all of `in` was taken
//       case Action::kSend: write(step.reply); continue;         // then feed the rest of `in`
//       case Action::kRequest: connect(parser.target()); ...;    // `in` is early app payload
//       case Action::kFail: write(step.reply) if not empty, close(step.reason); return;
//     }
//   }
//
// A pipelined read (greeting + auth + request + payload) therefore yields kSend, kSend, kRequest
// in order; the replies stay valid for the parser's lifetime, so they can be gathered into one
// write.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vmlocal/handshake/inbound_handshake.hpp"
#include "vmlocal/handshake/socks5_constants.hpp"
#include "vmlocal/handshake/socks5_reply.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::socks5 {

// The username and password the app must present (RFC 1929). Views, not copies, so the secret is
// not duplicated per connection: the strings (e.g. in the loaded profile) must outlive the parser.
// Fields outside 1..255 bytes can never match, since the app cannot send them.
struct Credentials {
  std::string_view username;
  std::string_view password;
};

using Action = handshake::Action;
using Step = handshake::Step;

class HandshakeParser final : public handshake::InboundHandshake {
 public:
  // With credentials, the app must authenticate with them; without, it must offer no-auth.
  // `udp_associate`: UDP ASSOCIATE is a request (kRequest, command kUdpAssociate, target = the
  // address the app says it will send from, often 0.0.0.0:0); otherwise it is refused with 0x07.
  explicit HandshakeParser(std::optional<Credentials> required = std::nullopt,
                           bool udp_associate = false);
  ~HandshakeParser() override;
  // Replies point into the parser, so it stays where it was built.
  HandshakeParser(const HandshakeParser&) = delete;
  HandshakeParser& operator=(const HandshakeParser&) = delete;

  // Takes bytes from the front of `input`. After kRequest every call returns kRequest with
  // consumed 0 (the bytes are payload); after kFail every call returns kFail with an empty reply
  // and takes all of its input, so a careless loop still ends.
  Step feed(ByteView input) override;

  // After kRequest: the CONNECT destination, or the UDP ASSOCIATE client address.
  const TargetAddress& target() const { return request_.target; }

  std::string_view protocol() const override { return "socks5"; }
  const handshake::Request& request() const override { return request_; }
  // The request's reply (RFC 1928 §6): succeeded, or the code for `kind` (refused 0x05, DNS and
  // unreachable 0x04, timeout 0x06, anything else 0x01), with BND 0.0.0.0:0.
  handshake::Reply success_reply() override;
  // UDP ASSOCIATE: succeeded, with BND = the relay's address.
  handshake::Reply success_reply_bound(const TargetAddress& bound) override;
  handshake::Reply failure_reply(ErrorKind kind) override;

 private:
  enum class Phase : uint8_t { kGreeting, kAuth, kRequest, kDone, kFailed };

  // Each scan looks at the partial message in buf_ and returns how long the whole message must
  // be, as far as the bytes so far tell, so errors show at the first byte that proves them. On
  // an error it calls a fail_* helper (phase_ becomes kFailed) and the return value is unused.
  size_t scan();
  size_t scan_greeting();
  size_t scan_auth();
  size_t scan_request();
  // Called when buf_ holds exactly one whole message.
  Step finish();
  Step finish_greeting();
  Step finish_auth();
  Step finish_request();

  size_t fail_silently(std::string reason);
  size_t fail_with_method_reply(std::string reason);
  size_t fail_with_auth_status(std::string reason);
  size_t fail_with_reply(ReplyCode code, std::string reason);
  Step failure_step(size_t consumed) const;

  std::optional<Credentials> required_;
  bool udp_associate_ = false;
  Phase phase_ = Phase::kGreeting;
  size_t size_ = 0;  // bytes of the current message in buf_
  std::array<uint8_t, kMaxAuthRequestSize> buf_{};

  // One slot per reply, each written at most once, so every span handed out stays valid.
  std::array<uint8_t, 2> method_reply_{};
  std::array<uint8_t, 2> auth_reply_{};
  Reply request_reply_;
  ByteView fail_reply_ = {};
  std::string reason_;

  handshake::Request request_;
  Reply final_reply_;  // success_reply() / failure_reply(): the handshake's last message
};

// The reply code a failure of `kind` earns (RFC 1928 §6).
ReplyCode reply_code_for(ErrorKind kind);

}  // namespace vmlocal::socks5
