// [server.tls], [server.ws] and [server.tcp]: reading and validating each key. The checks across
// keys are in the table of constraints.cpp. Private to src/config.
#pragma once

#include <array>
#include <string_view>

#include <toml++/toml.h>

#include "problems.hpp"
#include "profile_sections.hpp"
#include "vmlocal/config/profile.hpp"

namespace vmlocal::config {

using namespace std::string_view_literals;

inline constexpr std::array kServerTlsKeys = {"sni"sv, "alpn"sv, "insecure"sv, "ca_file"sv,
                                              "pin_sha256"sv};
inline constexpr std::array kServerWsKeys = {"path"sv, "host"sv, "headers"sv, "max_early_data"sv,
                                             "early_data_header"sv};
// Xray's documented upper limit for "?ed=" (transports/websocket: "最大值为8192").
inline constexpr uint32_t kMaxEarlyData = 8192;
inline constexpr std::array kServerTcpKeys = {"header"sv, "host"sv, "path"sv};
inline constexpr std::array kTcpHeaderNames = {"none"sv, "http"sv};
inline constexpr TableSchema kServerTcp = {"server.tcp", kServerTcpKeys};
inline constexpr std::array kServerHttpUpgradeKeys = {"path"sv, "host"sv};
inline constexpr TableSchema kServerHttpUpgrade = {"server.httpupgrade", kServerHttpUpgradeKeys};
inline constexpr TableSchema kServerTls = {"server.tls", kServerTlsKeys};
inline constexpr TableSchema kServerWs = {"server.ws", kServerWsKeys};

// `source_path` locates a relative ca_file (next to the profile).
void read_tls(Problems& problems, const toml::node& node, std::string_view source_path,
              Profile::Server& out);
void read_ws(Problems& problems, const toml::node& node, Profile::Server& out);
void read_tcp(Problems& problems, const toml::node& node, Profile::Server& out);
void read_httpupgrade(Problems& problems, const toml::node& node, Profile::Server& out);

// A pin as written in a profile: 64 hex digits or base64 of 32 bytes, optionally prefixed
// "sha256/". Returns the problem ("" when fine).
std::string parse_pin(std::string_view text, std::array<uint8_t, 32>& out);

}  // namespace vmlocal::config
