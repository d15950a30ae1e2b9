#include "env_proxy.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace vmlocal::cli {
namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

// "scheme://user:pass@host:port/path", "host:port", "[::1]:port": host and port only.
std::optional<EnvProxy> parse_proxy(std::string variable, std::string_view value) {
  if (const size_t scheme = value.find("://"); scheme != std::string_view::npos) {
    value.remove_prefix(scheme + 3);
  }
  value = value.substr(0, value.find_first_of("/?#"));
  if (const size_t at = value.rfind('@'); at != std::string_view::npos) value.remove_prefix(at + 1);
  EnvProxy proxy;
  proxy.variable = std::move(variable);
  std::string_view port;
  if (!value.empty() && value.front() == '[') {
    const size_t close = value.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    proxy.host = std::string(value.substr(1, close - 1));
    if (close + 1 < value.size() && value[close + 1] == ':') port = value.substr(close + 2);
  } else {
    const size_t colon = value.rfind(':');
    proxy.host = std::string(value.substr(0, colon));
    if (colon != std::string_view::npos) port = value.substr(colon + 1);
  }
  if (proxy.host.empty()) return std::nullopt;
  if (!port.empty()) {
    uint16_t number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number == 0) return std::nullopt;
    proxy.port = number;
  }
  return proxy;
}

bool is_loopback_name(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace

std::string EnvProxy::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<EnvProxy> env_proxy_for(std::string_view url,
                                      const std::function<const char*(const char*)>& getenv) {
  std::vector<const char*> names;
  if (iequals_prefix(url, "https://")) {
    names = {"https_proxy", "HTTPS_PROXY"};
  } else if (iequals_prefix(url, "http://")) {
    names = {"http_proxy"};
  }
  names.insert(names.end(), {"all_proxy", "ALL_PROXY"});
  for (const char* name : names) {
    const char* value = getenv(name);
    if (value != nullptr && value[0] != '\0') return parse_proxy(name, value);
  }
  return std::nullopt;
}

bool names_own_listener(const EnvProxy& proxy, const std::vector<config::ListenEndpoint>& listen) {
  for (const config::ListenEndpoint& endpoint : listen) {
    if (endpoint.port != proxy.port) continue;
    const bool wildcard = endpoint.host == "0.0.0.0" || endpoint.host == "::";
    if (endpoint.host == proxy.host ||
        ((endpoint.is_loopback() || wildcard) && is_loopback_name(proxy.host))) {
      return true;
    }
  }
  return false;
}

}  // namespace vmlocal::cli
