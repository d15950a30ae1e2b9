// Debian's real v2ray 4.34 on loopback, with a config written by the test: either the VMess
// server that vmess-local talks to, or a SOCKS5 server (to validate this harness, and as the
// reference client side in benchmarks). Both relay to loopback only: every generated config
// carries loopback_only_config(), and the constructor refuses one (after extra_config) that
// check_loopback_only() does not pass, so a mistyped target or a default probe URL reaches a
// blackhole, never the network.
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

// The outbounds and routing every generated config gets: "loopback" (freedom) for
// 127.0.0.0/8, ::1 and the name localhost, "elsewhere" (blackhole) for everything else.
// Routing matches names as given (AsIs), so nothing is resolved to route, and no DNS server is
// configured. The one name relayed, localhost, the freedom outbound resolves through the
// system's hosts file (v2ray 4.34's own DNS hosts entry does not replace that lookup: it
// still returned ::1 as well, which broke IPv4-only origins).
nlohmann::json loopback_only_config();
// Empty when `config` relays only to loopback in that way; else what is wrong with it.
std::string check_loopback_only(const nlohmann::json& config);

// `server` started again (after a test killed it) with the config it had, on the same port,
// logging to `dir`/v2ray-restarted.log; returns once it accepts. Throws when it does not start
// within 15 s.
Process restart_v2ray(TempDir& dir, const V2rayServer& server);

// $V2RAY_BIN if set, else v2ray from PATH.
std::filesystem::path v2ray_binary();

}  // namespace vmlocal::itest
