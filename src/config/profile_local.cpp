// [local]: where the proxy listens, which protocols it speaks and who may use it.
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {
namespace {

// A SOCKS5 credential: 1..255 bytes (RFC 1929). The password's value is never echoed.
void read_credential(Problems& problems, const toml::node& node, std::string_view name, bool secret,
                     std::string& out) {
  const auto* text = node.as_string();
  if (text == nullptr || text->get().empty() || text->get().size() > 255) {
    problems.add(node.source(),
                 "local." + std::string(name) + " must be a string of 1 to 255 bytes" +
                     (secret || text != nullptr ? std::string() : ", got " + describe(node)));
    return;
  }
  out = text->get();
}

void read_listen(Problems& problems, const toml::node* listen, Profile::Local& out) {
  if (listen == nullptr) return;

  // One endpoint as a plain string is accepted as a convenience.
  std::vector<const toml::node*> entries;
  if (listen->is_string()) {
    entries.push_back(listen);
  } else if (const toml::array* array = listen->as_array()) {
    if (array->empty()) {
      problems.add(
          listen->source(),
          R"(local.listen must not be empty; list at least one address, e.g. ["127.0.0.1:1080"])");
      return;
    }
    for (const toml::node& entry : *array) {
      entries.push_back(&entry);
    }
  } else {
    problems.add(listen->source(),
                 R"(local.listen must be a list of addresses like ["127.0.0.1:1080"], got )" +
                     describe(*listen));
    return;
  }

  std::vector<ListenEndpoint> endpoints;
  for (const toml::node* entry : entries) {
    const auto* text = entry->as_string();
    if (text == nullptr) {
      problems.add(
          entry->source(),
          R"(local.listen entries must be strings like "127.0.0.1:1080", got )" + describe(*entry));
      return;
    }
    auto parsed = parse_listen_endpoint(text->get());
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      problems.add(entry->source(), "local.listen: " + *error);
      return;
    }
    ListenEndpoint& endpoint = std::get<ListenEndpoint>(parsed);
    for (const ListenEndpoint& earlier : endpoints) {
      if (earlier.host == endpoint.host && earlier.port == endpoint.port) {
        problems.add(entry->source(),
                     "local.listen lists " + quote(endpoint.to_string()) + " more than once");
        return;
      }
    }
    endpoints.push_back(std::move(endpoint));
  }
  out.listen = std::move(endpoints);
}

// The SOCKS5 UDP relay's keys.
void read_udp(Problems& problems, const toml::table& local, Profile::Local& out) {
  if (const toml::node* node = local.get("udp")) {
    if (const auto* flag = node->as_boolean()) {
      out.udp = flag->get();
    } else {
      problems.add(node->source(), "local.udp must be true or false, got " + describe(*node));
    }
  }
  if (const toml::node* node = local.get("udp_idle_timeout")) {
    if (auto value = read_seconds(problems, *node, "local.udp_idle_timeout")) {
      out.udp_idle_timeout = *value;
    }
  }
  if (const toml::node* node = local.get("udp_max_destinations")) {
    if (auto limit = read_integer(problems, *node, "local.udp_max_destinations", 1, 4096)) {
      out.udp_max_destinations = static_cast<uint32_t>(*limit);
    }
  }
  if (const toml::node* node = local.get("udp_max_queued")) {
    if (auto limit = read_integer(problems, *node, "local.udp_max_queued", 1, 65536)) {
      out.udp_max_queued = static_cast<uint32_t>(*limit);
    }
  }
}

// ["socks5", "socks4", "http"]: a non-empty list of known names, each once.
void read_protocols(Problems& problems, const toml::node& node, Profile::Local& out) {
  constexpr std::string_view kExample = R"(e.g. ["socks5", "socks4", "http"])";
  const toml::array* array = node.as_array();
  if (array == nullptr || array->empty()) {
    problems.add(node.source(), "local.protocols must be a non-empty list of protocol names, " +
                                    std::string(kExample) + ", got " + describe(node));
    return;
  }
  Profile::Local::Protocols protocols{false, false, false};
  for (const toml::node& entry : *array) {
    const auto* text = entry.as_string();
    bool* flag = nullptr;
    if (text != nullptr) {
      const std::string& name = text->get();
      if (name == "socks5") flag = &protocols.socks5;
      if (name == "socks4" || name == "socks4a") flag = &protocols.socks4;
      if (name == "http") flag = &protocols.http;
    }
    if (flag == nullptr) {
      problems.add(entry.source(), "local.protocols: unknown protocol " + describe(entry) +
                                       R"( (known: "socks5", "socks4" (SOCKS4 and 4a), "http"))");
      return;
    }
    if (*flag) {
      problems.add(entry.source(), "local.protocols lists " + describe(entry) + " more than once");
      return;
    }
    *flag = true;
  }
  out.protocols = protocols;
}

}  // namespace

void read_local(Problems& problems, const toml::table& local, Profile::Local& out) {
  check_keys(problems, local, kLocal);
  read_listen(problems, local.get("listen"), out);

  const toml::node* username = local.get("username");
  const toml::node* password = local.get("password");
  if (username != nullptr) read_credential(problems, *username, "username", false, out.username);
  if (password != nullptr) read_credential(problems, *password, "password", true, out.password);
  if (const toml::node* node = local.get("allow_open_proxy")) {
    if (const auto* flag = node->as_boolean()) {
      out.allow_open_proxy = flag->get();
    } else {
      problems.add(node->source(),
                   "local.allow_open_proxy must be true or false, got " + describe(*node));
    }
  }
  if (const toml::node* node = local.get("workers")) {
    if (auto workers = read_integer(problems, *node, "local.workers", 1, 64)) {
      out.workers = static_cast<uint32_t>(*workers);
    }
  }
  if (const toml::node* node = local.get("protocols")) read_protocols(problems, *node, out);
  if (const toml::node* node = local.get("max_connections")) {
    if (auto limit = read_integer(problems, *node, "local.max_connections", 1, 1'000'000)) {
      out.max_connections = static_cast<uint32_t>(*limit);
    }
  }
  read_udp(problems, local, out);
}

}  // namespace vmlocal::config
