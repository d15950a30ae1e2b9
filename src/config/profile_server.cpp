// [server]: the VMess server and how to reach it. [server.tls] and [server.ws] are read in
// transport_settings.cpp.
#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "h2_settings.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"
#include "server_address.hpp"
#include "transport_settings.hpp"

namespace vmlocal::config {
namespace {

constexpr std::array kSecurityNames = {"auto"sv, "aes-128-gcm"sv, "chacha20-poly1305"sv, "none"sv,
                                       "zero"sv};
// More would only load the server: a burst of new tunnels beyond the pool dials as usual.
constexpr int64_t kMaxWarm = 16;
constexpr std::array kTransportNames = {"tcp"sv, "ws"sv, "h2"sv, "grpc"sv, "httpupgrade"sv};
// v2ray/Xray transports a user may copy from a server's config.
constexpr std::array kOtherTransports = {"quic"sv,      "kcp"sv,   "mkcp"sv,
                                         "splithttp"sv, "xhttp"sv, "domainsocket"sv};

void read_address(Problems& problems, const toml::node& node, std::string& out) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    problems.add(node.source(), R"(server.address must be a host name or IP address in quotes, )"
                                R"(e.g. "vmess.example.org", got )" +
                                    describe(node));
    return;
  }
  const std::string problem = server_address_problem(text->get());
  if (!problem.empty()) {
    problems.add(node.source(), "server.address " + problem);
    return;
  }
  out = text->get();
}

// The UUID is the whole credential: no message here may include what was written.
void read_uuid(Problems& problems, const toml::node& node, vmess::Uuid& out) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    const bool number = node.is_integer() || node.is_floating_point();
    problems.add(node.source(),
                 "server.uuid must be a string in quotes (8-4-4-4-12 hex digits), "
                 "got " +
                     (number ? std::string("a number") : describe(node)));
    return;
  }
  // The forms v2ray/Xray accept: dashed, 32 digits, or a 1..30 byte user ID (account.hpp).
  if (auto uuid = vmess::parse_user_id(text->get())) {
    out = *uuid;
    return;
  }
  std::string message =
      "server.uuid is not a valid UUID (expected 8-4-4-4-12 hex digits, the same 32 digits "
      "without dashes, or a user ID of 1..30 characters)";
  // Spaces picked up when copying are easy to miss; say so rather than accept them silently.
  const std::string_view value = text->get();
  const size_t first = value.find_first_not_of(" \t");
  const size_t last = value.find_last_not_of(" \t");
  if (first != std::string_view::npos && (first > 0 || last + 1 < value.size()) &&
      vmess::parse_user_id(value.substr(first, last - first + 1))) {
    message += "; remove the spaces around it";
  }
  problems.add(node.source(), std::move(message));
}

void read_transport(Problems& problems, const toml::node& node, Transport& out) {
  const auto* text = node.as_string();
  if (text != nullptr && (text->get() == "wss" || text->get() == "tls")) {
    problems.add(node.source(),
                 "server.transport " + quote(text->get()) +
                     R"( is not a transport here: TLS is switched on by a [server.tls] table; )"
                     R"(write transport = ")" +
                     std::string(text->get() == "wss" ? "ws" : "tcp") +
                     R"(" and add [server.tls])");
    return;
  }
  if (text != nullptr && (text->get() == "http" || text->get() == "gun")) {
    // v2ray's JSON names for h2 and grpc.
    problems.add(node.source(), "server.transport " + quote(text->get()) +
                                    R"( is v2ray's name for it; write transport = ")" +
                                    std::string(text->get() == "http" ? "h2" : "grpc") + R"(")");
    return;
  }
  if (text != nullptr && std::find(kOtherTransports.begin(), kOtherTransports.end(), text->get()) !=
                             kOtherTransports.end()) {
    problems.add(node.source(),
                 "server.transport " + quote(text->get()) +
                     R"( is not supported by this build; use "tcp", "ws", "httpupgrade", "h2" or )"
                     R"("grpc")");
    return;
  }
  if (auto name = read_choice(problems, node, "server.transport", kTransportNames)) {
    out = *name == "ws"            ? Transport::kWs
          : *name == "h2"          ? Transport::kH2
          : *name == "grpc"        ? Transport::kGrpc
          : *name == "httpupgrade" ? Transport::kHttpUpgrade
                                   : Transport::kTcp;
  }
}

// The three keys without which there is no server to connect to.
void read_server_identity(Problems& problems, const toml::table& server, Profile::Server& out) {
  if (const toml::node* node = server.get("address")) {
    read_address(problems, *node, out.address);
  } else {
    problems.add_missing(&server.source(),
                         "missing server.address (the VMess server's host name or IP address)");
  }

  if (const toml::node* node = server.get("port")) {
    if (auto port = read_integer(problems, *node, "server.port", 1, 65535)) {
      out.port = static_cast<uint16_t>(*port);
    }
  } else {
    problems.add_missing(&server.source(),
                         "missing server.port (the VMess server's port, 1..65535)");
  }

  if (const toml::node* node = server.get("uuid")) {
    read_uuid(problems, *node, out.uuid);
  } else {
    problems.add_missing(&server.source(),
                         "missing server.uuid (your user ID on the VMess server)");
  }
}

void read_security(Problems& problems, const toml::node& node, vmess::Security& out) {
  if (auto name = read_choice(problems, node, "server.security", kSecurityNames)) {
    if (auto security = vmess::parse_security(*name)) {
      out = *security;
    } else {
      problems.add(node.source(),
                   "server.security " + quote(*name) + " is not supported by this build");
    }
  }
}

// Warm connections: how many, and for how long (see Profile::Server).
void read_warm(Problems& problems, const toml::table& server, Profile::Server& out) {
  if (const toml::node* node = server.get("warm")) {
    if (auto count = read_integer(problems, *node, "server.warm", 0, kMaxWarm)) {
      out.warm = static_cast<uint32_t>(*count);
    }
  }
  if (const toml::node* node = server.get("warm_max_age")) {
    if (auto age = read_seconds(problems, *node, "server.warm_max_age")) out.warm_max_age = *age;
  }
  if (const toml::node* node = server.get("warm_idle")) {
    if (auto idle = read_seconds(problems, *node, "server.warm_idle")) out.warm_idle = *idle;
  }
}

}  // namespace

void read_clock_offset(Problems& problems, const toml::node& node, Profile::Server& out) {
  if (const auto* text = node.as_string(); text != nullptr && text->get() == "auto") {
    out.clock_offset.reset();
    return;
  }
  // A day either way: beyond that the clock wants fixing, not compensating.
  if (node.is_integer()) {
    if (auto seconds = read_integer(problems, node, "server.clock_offset", -86400, 86400)) {
      out.clock_offset = static_cast<int32_t>(*seconds);
    }
    return;
  }
  problems.add(node.source(),
               "server.clock_offset must be \"auto\" or a whole number of seconds (-86400..86400) "
               "added to this clock for VMess timestamps, got " +
                   describe(node));
}

void read_server(Problems& problems, const toml::table& server, std::string_view source_path,
                 Profile::Server& out) {
  check_keys(problems, server, kServer);
  read_server_identity(problems, server, out);

  if (const toml::node* node = server.get("alter_id")) {
    if (auto alter_id = read_integer(problems, *node, "server.alter_id", 0, 65535)) {
      out.alter_id = static_cast<uint16_t>(*alter_id);
    }
  }
  if (const toml::node* node = server.get("security")) read_security(problems, *node, out.security);
  if (const toml::node* node = server.get("tcp_fast_open")) {
    if (const auto* flag = node->as_boolean()) {
      out.tcp_fast_open = flag->get();
    } else {
      problems.add(node->source(),
                   "server.tcp_fast_open must be true or false, got " + describe(*node));
    }
  }

  if (const toml::node* node = server.get("clock_offset")) read_clock_offset(problems, *node, out);
  if (const toml::node* node = server.get("transport"))
    read_transport(problems, *node, out.transport);
  read_warm(problems, server, out);
  const toml::node* tls = server.get("tls");
  const toml::node* ws = server.get("ws");
  if (tls != nullptr) read_tls(problems, *tls, source_path, out);
  if (ws != nullptr) read_ws(problems, *ws, out);
  if (const toml::node* h2 = server.get("h2")) read_h2(problems, *h2, out);
  if (const toml::node* grpc = server.get("grpc")) read_grpc(problems, *grpc, out);
  if (const toml::node* tcp = server.get("tcp")) read_tcp(problems, *tcp, out);
  if (const toml::node* up = server.get("httpupgrade")) read_httpupgrade(problems, *up, out);
  if (const toml::node* mux = server.get("mux")) read_mux(problems, *mux, out.mux);
}

}  // namespace vmlocal::config
