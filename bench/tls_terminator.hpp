// A TLS terminator in front of a plain-TCP server, for the RTT section's "ws+tls ed" row: the
// harness's Http1Front (which decodes WebSocket early data) speaks no TLS, and v2ray 4.34, the
// only server here with TLS, has no early data. Debian's stunnel4 does the job (one process,
// a thread per connection, TLS 1.3 with OpenSSL's default groups), so nothing is hand-written
// for it. Not socat: socat 1.7.4 fixes the ECDH group to P-256, so a client that sends only an
// X25519 key share (OpenSSL's default, vmess-local's) gets a HelloRetryRequest, one round trip
// that no real server costs. TCP_NODELAY on both sides, as the Go and libuv peers of the other
// rows set it: without it a small TLS record can wait for the ACK of the one before.
#pragma once

#include <filesystem>
#include <optional>

#include "harness/endpoint.hpp"
#include "harness/process.hpp"
#include "harness/temp_dir.hpp"

namespace vmlocal::bench {

class TlsTerminator {
 public:
  // Listens on a free 127.0.0.1 port with `cert` / `key` (PEM) and relays each connection's
  // plaintext to `backend`. Throws if stunnel does not start accepting (its log in the message).
  TlsTerminator(const itest::Endpoint& backend, const std::filesystem::path& cert,
                const std::filesystem::path& key, itest::TempDir& dir);

  const itest::Endpoint& endpoint() const { return endpoint_; }

 private:
  itest::Endpoint endpoint_;
  std::optional<itest::Process> stunnel_;
};

}  // namespace vmlocal::bench
