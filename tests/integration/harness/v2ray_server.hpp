// Debian's real v2ray 4.34 on loopback, with a config written by the test: either the VMess
// server that vmess-local talks to, or a SOCKS5 server (to validate this harness, and as the
// reference client side in benchmarks). Both route everything to a "freedom" outbound.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/deadline.hpp"
#include "harness/endpoint.hpp"
#include "harness/process.hpp"
#include "harness/socks5_client.hpp"
#include "harness/temp_dir.hpp"

namespace vmlocal::itest {

struct V2rayOptions {
  std::string log_level = "warning";  // debug | info | warning | error | none
  // Merged into the top level of the generated config (JSON merge patch), e.g.
  // {"policy": {"levels": {"0": {"handshake": 4}}}}.
  nlohmann::json extra_config = nlohmann::json::object();
  // Extra inbounds appended as they are (give them their own "port").
  std::vector<nlohmann::json> extra_inbounds;
  std::chrono::milliseconds start_timeout{10'000};
};

struct VmessInboundOptions {
  std::string uuid;  // empty: a fresh random one
  std::uint16_t alter_id = 0;
  Family family = Family::kV4;
  bool disable_insecure_encryption = false;
  // The inbound's "streamSettings" (transport and TLS), e.g. {"network": "ws", "wsSettings":
  // {"path": "/ws"}}; null: plain TCP.
  nlohmann::json stream_settings = nullptr;
};

struct SocksInboundOptions {
  std::optional<Socks5Credentials> credentials;  // "noauth" when empty
  Family family = Family::kV4;
};

class V2rayServer {
 public:
  // Starts v2ray and waits until the inbound accepts TCP. Throws with the v2ray log otherwise.
  static V2rayServer vmess(TempDir& dir, const VmessInboundOptions& inbound = {},
                           const V2rayOptions& options = {});
  static V2rayServer socks(TempDir& dir, const SocksInboundOptions& inbound = {},
                           const V2rayOptions& options = {});

  const Endpoint& endpoint() const { return endpoint_; }  // the inbound
  uint16_t port() const { return endpoint_.port; }
  const std::string& uuid() const { return uuid_; }  // VMess only
  uint16_t alter_id() const { return alter_id_; }    // VMess only
  // A client for the SOCKS inbound (with its credentials, if any).
  Socks5Client socks_client() const;

  Process& process() { return *process_; }
  std::string log_text() const { return process_->log_text(); }
  const std::filesystem::path& config_path() const { return config_path_; }
  const nlohmann::json& config() const { return config_; }

 private:
  V2rayServer(TempDir& dir, const nlohmann::json& inbound, Family family,
              const V2rayOptions& options);

  Endpoint endpoint_;
  std::string uuid_;
  uint16_t alter_id_ = 0;
  std::optional<Socks5Credentials> socks_credentials_;
  nlohmann::json config_;
  std::filesystem::path config_path_;
  std::optional<Process> process_;
};

// Options whose config lets the server relay to loopback destinations only: a routing rule sends
// anything else to a blackhole outbound, so a mistyped target cannot leave the machine. Merge
// further settings into `extra_config` as needed (keep "outbounds" and "routing").
V2rayOptions loopback_only();

// $V2RAY_BIN if set, else v2ray from PATH.
std::filesystem::path v2ray_binary();

}  // namespace vmlocal::itest
