// What the files of the profile loader share: the schema of the [local], [server], [timeouts]
// and [log] tables, the key checks, and the readers of [local] and [server]. Private to
// src/config.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "problems.hpp"
#include "vmlocal/config/profile.hpp"

namespace vmlocal::config {

using namespace std::string_view_literals;

inline constexpr std::array kLocalKeys = {
    "listen"sv,        "username"sv,  "password"sv, "allow_open_proxy"sv, "max_connections"sv,
    "workers"sv,       "protocols"sv, "udp"sv,      "udp_idle_timeout"sv, "udp_max_destinations"sv,
    "udp_max_queued"sv};
inline constexpr std::array kServerKeys = {
    "address"sv,       "port"sv, "uuid"sv,         "alter_id"sv, "security"sv, "transport"sv,
    "tls"sv,           "ws"sv,   "h2"sv,           "grpc"sv,     "tcp"sv,      "httpupgrade"sv,
    "tcp_fast_open"sv, "mux"sv,  "clock_offset"sv, "name"sv,     "warm"sv,     "warm_max_age"sv,
    "warm_idle"sv};
inline constexpr std::array kTimeoutKeys = {"handshake"sv,   "connect"sv,       "idle"sv,
                                            "uplink_only"sv, "downlink_only"sv, "shutdown_grace"sv};
inline constexpr std::array kLogKeys = {"level"sv};
inline constexpr std::array kServerMuxKeys = {"enabled"sv, "concurrency"sv};
inline constexpr std::array kBalancerKeys = {"strategy"sv, "tolerance_ms"sv};
inline constexpr std::array kProbeKeys = {"url"sv, "interval"sv, "timeout"sv};
inline constexpr std::array kRouteKeys = {"private"sv, "direct"sv, "block"sv};
inline constexpr std::array kSubscriptionKeys = {"url"sv, "interval"sv};

inline constexpr TableSchema kLocal = {"local", kLocalKeys};
inline constexpr TableSchema kServer = {"server", kServerKeys};
inline constexpr TableSchema kTimeouts = {"timeouts", kTimeoutKeys};
inline constexpr TableSchema kLog = {"log", kLogKeys};
inline constexpr TableSchema kServerMux = {"server.mux", kServerMuxKeys};
inline constexpr TableSchema kBalancer = {"balancer", kBalancerKeys};
inline constexpr TableSchema kProbe = {"probe", kProbeKeys};
inline constexpr TableSchema kRoute = {"route", kRouteKeys};
inline constexpr TableSchema kSubscription = {"subscription", kSubscriptionKeys};

// Key checks (profile_keys.cpp). Rejects every key of `table` that the schema does not list.
void check_keys(Problems& problems, const toml::table& table, const TableSchema& schema);
// Reports every top-level key or table the schema does not know.
void check_top_level_keys(Problems& problems, const toml::table& root);
// The named top-level table, or nullptr when absent or not a table (reported).
const toml::table* table_at(Problems& problems, const toml::table& root, std::string_view name);

// profile_local.cpp
void read_local(Problems& problems, const toml::table& local, Profile::Local& out);
// profile_server.cpp. `source_path` locates a relative ca_file (next to the profile).
void read_server(Problems& problems, const toml::table& server, std::string_view source_path,
                 Profile::Server& out);
// mux_settings.cpp
void read_mux(Problems& problems, const toml::node& node, MuxSettings& out);
// profile_servers.cpp: [server] or [[servers]] (exactly one of them) into `out`, each with its
// name. `optional` (a [subscription] supplies servers): neither is fine. Whether either was there.
bool read_servers(Problems& problems, const toml::table& root, std::string_view source_path,
                  std::vector<Profile::Server>& out, bool optional = false);
// profile_subscription.cpp: [subscription].
void read_subscription(Problems& problems, const toml::table& subscription,
                       Profile::Subscription& out);
// profile_balancer.cpp: [balancer].
void read_balancer(Problems& problems, const toml::table& balancer, Profile::Balancer& out);
// profile_probe.cpp: [probe].
void read_probe(Problems& problems, const toml::table& probe, Profile::Probe& out);
// profile_server.cpp: server.clock_offset.
void read_clock_offset(Problems& problems, const toml::node& node, Profile::Server& out);
// profile_route.cpp
void read_route(Problems& problems, const toml::table& route, route::Rules& out);
// user_id_shape.cpp: a warning for each server.uuid that loads as an Xray text ID but looks
// like a UUID cut short.
void warn_cut_user_ids(const toml::table& root, std::string_view source_path,
                       const Profile& profile, std::vector<std::string>& warnings);
// constraints.cpp: the rules about settings together, applied once everything was read without
// a problem. Refusals go to `problems`; repairs and warnings to `warnings`, with their position.
void check_constraints(Problems& problems, std::vector<std::string>& warnings,
                       const toml::table& root, std::string_view source_path, Profile& profile);

}  // namespace vmlocal::config
