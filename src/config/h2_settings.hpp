// [server.h2] and [server.grpc]: reading and validating each key of the two HTTP/2 transports.
// The checks across keys (both need TLS, ALPN "h2") are in the table of constraints.cpp.
// Private to src/config.
#pragma once

#include <array>
#include <string_view>

#include <toml++/toml.h>

#include "problems.hpp"
#include "vmlocal/config/profile.hpp"

namespace vmlocal::config {

using namespace std::string_view_literals;

inline constexpr std::array kServerH2Keys = {"path"sv, "host"sv};
inline constexpr std::array kServerGrpcKeys = {"service_name"sv};
inline constexpr TableSchema kServerH2 = {"server.h2", kServerH2Keys};
inline constexpr TableSchema kServerGrpc = {"server.grpc", kServerGrpcKeys};

void read_h2(Problems& problems, const toml::node& node, Profile::Server& out);
void read_grpc(Problems& problems, const toml::node& node, Profile::Server& out);

}  // namespace vmlocal::config
