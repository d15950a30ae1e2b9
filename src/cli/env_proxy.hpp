// The proxy libcurl takes from the environment for a fetch, so that a fetch can say which one it
// went through, and skip one that is this very process before it serves (a user who followed
// README and set http_proxy=http://127.0.0.1:1080 for everything, vmess-local's own port).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::cli {

struct EnvProxy {
  std::string variable;           // "http_proxy", "HTTPS_PROXY", "all_proxy", ...
  std::string host;               // without brackets; no user info (it may hold a password)
  uint16_t port = 1080;           // libcurl's default when the value names none
  std::string to_string() const;  // "host:port", "[::1]:port"
};

// As libcurl reads them (curl's docs, "ENVIRONMENT"): for an https:// URL https_proxy, then
// HTTPS_PROXY; for http:// only the lower-case http_proxy (the upper case is refused for CGI
// safety); then all_proxy, ALL_PROXY. no_proxy is not weighed (a proxy skipped because of it was
// not going to be used). nullopt when none is set or its value names no host.
std::optional<EnvProxy> env_proxy_for(
    std::string_view url, const std::function<const char*(const char*)>& getenv =
                              [](const char* n) { return std::getenv(n); });

// Whether `proxy` is one of `listen`: the same port, and the same address, or a loopback name
// (127.0.0.0/8, ::1, localhost) for a loopback or wildcard listen address.
bool names_own_listener(const EnvProxy& proxy, const std::vector<config::ListenEndpoint>& listen);

}  // namespace vmlocal::cli
