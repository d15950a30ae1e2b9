// Sends a requested amount of deterministic data: the download half of an integrity check.
//
// Wire format: the client sends BE64 count || BE64 seed; the server answers with the first
// `count` bytes of DataStream(seed) and closes. The client checks them against
// stream_sha256(seed, count), which never involves the server.
#pragma once

#include <array>

#include "harness/tcp_server.hpp"

namespace vmlocal::itest {

class SourceServer {
 public:
  static constexpr std::size_t kRequestSize = 16;

  explicit SourceServer(Family family = Family::kV4);

  const Endpoint& endpoint() const { return server_.endpoint(); }
  uint16_t port() const { return server_.port(); }
  uint64_t accepted() const { return server_.accepted(); }
  std::vector<std::string> errors() const { return server_.errors(); }

  // The request a client sends.
  static std::array<std::uint8_t, kRequestSize> request(std::uint64_t count, std::uint64_t seed);

 private:
  TcpServer server_;
};

}  // namespace vmlocal::itest
