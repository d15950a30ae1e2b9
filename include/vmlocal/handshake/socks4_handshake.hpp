// The app side of a SOCKS4 (and its 4a extension) CONNECT handshake, as a push-style state
// machine behind handshake::InboundHandshake. Pure: no sockets, no libuv.
//
// SOCKS4: VN=4 CD DSTPORT(2) DSTIP(4) USERID NUL. SOCKS4a (a client that wants the server to
// resolve the name): DSTIP 0.0.0.x with x != 0, and the domain name follows USERID, ended by
// NUL. Reply: VN=0 CD DSTPORT DSTIP, 8 bytes; CD 0x5A granted, 0x5B rejected or failed.
// Sources: "SOCKS: A protocol for TCP proxy across firewalls" (Ying-Da Lee, NEC) and
// "SOCKS 4A: A Simple Extension to SOCKS 4 Protocol".
//
// The USERID is ignored (no server here checks it). SOCKS4 has no field for a password, so when
// the profile requires a username and password every SOCKS4 request is refused (0x5B) with a
// reason saying so. BIND (CD 2) is refused with 0x5B.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vmlocal/handshake/inbound_handshake.hpp"

namespace vmlocal::socks4 {

inline constexpr uint8_t kVersion = 0x04;
inline constexpr uint8_t kReplyVersion = 0x00;
inline constexpr uint8_t kConnect = 0x01;
inline constexpr uint8_t kBind = 0x02;
inline constexpr uint8_t kGranted = 0x5A;
inline constexpr uint8_t kRejected = 0x5B;
inline constexpr size_t kMaxUserIdLength = 255;  // longer: refused (no client sends more)
inline constexpr size_t kMaxDomainLength = 255;
inline constexpr size_t kFixedSize = 8;  // VN CD DSTPORT DSTIP
inline constexpr size_t kReplySize = 8;

class HandshakeParser final : public handshake::InboundHandshake {
 public:
  // `auth_required`: the profile has a username and password, which SOCKS4 cannot carry.
  explicit HandshakeParser(bool auth_required = false);
  HandshakeParser(const HandshakeParser&) = delete;
  HandshakeParser& operator=(const HandshakeParser&) = delete;

  // After kRequest every call returns kRequest with consumed 0; after kFail every call returns
  // kFail with an empty reply and takes all of its input.
  handshake::Step feed(ByteView input) override;
  // "socks4", or "socks4a" once the request named a domain.
  std::string_view protocol() const override { return is_4a_ ? "socks4a" : "socks4"; }
  const handshake::Request& request() const override { return request_; }
  // 0x5A granted; every failure is 0x5B (SOCKS4 has no finer codes: 0x5C/0x5D are identd's).
  handshake::Reply success_reply() override;
  // Never asked: this protocol has no UDP command.
  handshake::Reply success_reply_bound(const TargetAddress&) override { return success_reply(); }
  handshake::Reply failure_reply(ErrorKind kind) override;

 private:
  enum class Phase : uint8_t { kFixed, kUserId, kDomain, kDone, kFailed };
  handshake::Step fail(size_t consumed, std::string reason);
  handshake::Step finish(size_t consumed);

  bool auth_required_;
  Phase phase_ = Phase::kFixed;
  bool is_4a_ = false;
  std::array<uint8_t, kFixedSize> fixed_{};
  size_t fixed_size_ = 0;
  size_t user_id_size_ = 0;
  std::string domain_;
  std::string reason_;
  std::array<uint8_t, kReplySize> reply_{};
  handshake::Request request_;
};

}  // namespace vmlocal::socks4
