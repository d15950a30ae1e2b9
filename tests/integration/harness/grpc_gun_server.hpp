// A loopback gRPC "gun" server for the grpc transport's tests, written from the published
// documents rather than from our client: TLS with ALPN h2 (OpenSSL), HTTP/2 from nghttp2's
// server session, one call per stream on POST /<service_name>/Tun (v2fly.org
// config/transport/grpc.html, xtls.github.io config/transports/grpc.html) with content-type
// application/grpc, every message a gRPC Length-Prefixed-Message (grpc/grpc
// doc/PROTOCOL-HTTP2.md) carrying `Hunk { bytes data = 1; }` (Xray-core
// transport/internet/grpc/encoding/stream.proto). Its own small encoder and decoder, so a
// mistake in the client's is not mirrored here.
//
// Each call's bytes are relayed to `backend` — the real v2ray's VMess inbound over plain TCP —
// which then speaks VMess and reaches loopback origins (its config relays to loopback only).
// The call ends with trailers grpc-status 0 once the backend closes; a wrong path or
// content-type gets a trailers-only answer with grpc-status 12 (UNIMPLEMENTED), as grpc-go's
// server gives.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/endpoint.hpp"
#include "harness/socket.hpp"

namespace vmlocal::itest {

struct GrpcGunOptions {
  std::string service_name = "GunService";
  std::filesystem::path cert;  // PEM certificate and key for TLS
  std::filesystem::path key;
  Endpoint backend;  // each call is relayed to a new TCP connection here
};

class GrpcGunServer {
 public:
  explicit GrpcGunServer(GrpcGunOptions options);
  ~GrpcGunServer();
  GrpcGunServer(const GrpcGunServer&) = delete;
  GrpcGunServer& operator=(const GrpcGunServer&) = delete;

  uint16_t port() const { return port_; }
  // Calls relayed to the backend, and calls refused (wrong path or content-type).
  uint64_t calls() const { return calls_.load(); }
  uint64_t refused() const { return refused_.load(); }
  // Every request's headers seen so far, "name: value" lines per request.
  std::vector<std::string> requests() const;

  // Encoding and decoding, exposed for the harness's own test.
  static std::string encode_hunk(std::string_view data);
  // Appends the data of every whole message at the front of `buffer` to `out` and removes
  // them; false on a malformed message.
  static bool decode_hunks(std::string& buffer, std::string& out);

 private:
  void accept_loop();
  void serve(int fd);

  GrpcGunOptions options_;
  Socket listener_;
  uint16_t port_ = 0;
  void* ssl_ctx_ = nullptr;  // SSL_CTX
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> refused_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::list<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace vmlocal::itest
