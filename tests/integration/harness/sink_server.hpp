// Swallows an upload and answers with what it got: the upload half of an integrity check.
//
// Wire format: the client sends BE64 length, then the bytes. The server reads `length` bytes,
// or until EOF when length is kUntilEof, then answers BE64 byte count || SHA-256 of the bytes
// (32) and closes.
//
// Why a length and not just EOF: v2ray's freedom outbound never passes a half-close on to the
// target (proxy/freedom/freedom.go has no CloseWrite); it closes the whole connection once the
// other direction has been idle for 1 s. Behind a real v2ray server a sink waiting for EOF
// would answer into a closed socket. kUntilEof is for paths that do carry a FIN (a direct
// connection, or a future proxy that propagates half-close).
#pragma once

#include <array>
#include <limits>

#include "harness/sha256.hpp"
#include "harness/tcp_server.hpp"

namespace vmlocal::itest {

class SinkServer {
 public:
  static constexpr std::uint64_t kUntilEof = std::numeric_limits<std::uint64_t>::max();
  static constexpr std::size_t kHeaderSize = 8;
  static constexpr std::size_t kReportSize = 8 + 32;

  struct Report {
    std::uint64_t count = 0;
    Digest sha256{};
  };

  explicit SinkServer(Family family = Family::kV4);

  const Endpoint& endpoint() const { return server_.endpoint(); }
  uint16_t port() const { return server_.port(); }
  uint64_t accepted() const { return server_.accepted(); }
  std::vector<std::string> errors() const { return server_.errors(); }

  static std::array<std::uint8_t, kHeaderSize> header(std::uint64_t length);
  static Report parse_report(std::span<const std::uint8_t, kReportSize> bytes);

 private:
  TcpServer server_;
};

}  // namespace vmlocal::itest
