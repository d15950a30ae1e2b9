#include "h2_settings.hpp"

#include <algorithm>

#include "diagnostic_text.hpp"
#include "profile_sections.hpp"
#include "server_address.hpp"

namespace vmlocal::config {
namespace {

// What may not appear in a request path as written (it goes out as the :path pseudo-header).
std::string path_problem(std::string_view key, std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) {
      return std::string(key) + " " + quote(text) +
             " contains a space or control character; percent-encode it (a space is %20)";
    }
    if (u >= 0x80) {
      return std::string(key) + " " + quote(text) +
             " contains non-ASCII characters; percent-encode them";
    }
    if (c == '#') {
      return std::string(key) + " " + quote(text) +
             " contains \"#\", which is never sent to a server; percent-encode it as %23";
    }
  }
  return {};
}

void read_h2_path(Problems& problems, const toml::node& node, H2Settings& out) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    problems.add(node.source(),
                 "server.h2.path must be a path in quotes, e.g. \"/\", got " + describe(node));
    return;
  }
  // v2ray would add the missing "/" (getNormalizedPath); saying so keeps the profile and what
  // is sent the same.
  if (text->get().empty() || text->get().front() != '/') {
    problems.add(node.source(), "server.h2.path must start with \"/\", got " + quote(text->get()) +
                                    " (write \"/" + text->get() + "\")");
    return;
  }
  if (std::string problem = path_problem("server.h2.path", text->get()); !problem.empty()) {
    problems.add(node.source(), std::move(problem));
    return;
  }
  out.path = text->get();
}

// One host name (optionally with ":port"), as the :authority of a request.
bool read_one_host(Problems& problems, const toml::node& node, H2Settings& out) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    problems.add(node.source(),
                 "server.h2.host entries must be host names in quotes, e.g. "
                 "\"example.org\", got " +
                     describe(node));
    return false;
  }
  std::string_view host = text->get();
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(':') == colon) {
    const std::string_view port = host.substr(colon + 1);
    const bool digits =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) host = host.substr(0, colon);
  }
  if (host.empty() || !server_address_problem(host).empty()) {
    problems.add(node.source(),
                 "server.h2.host entries must be host names, optionally with \":port\" (e.g. "
                 "\"example.org\"), got " +
                     quote(text->get()));
    return false;
  }
  out.host.push_back(text->get());
  return true;
}

void read_h2_host(Problems& problems, const toml::node& node, H2Settings& out) {
  if (node.is_string()) {
    read_one_host(problems, node, out);
    return;
  }
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    problems.add(node.source(),
                 "server.h2.host must be a list of host names like [\"example.org\"], got " +
                     describe(node));
    return;
  }
  for (const toml::node& entry : *array) {
    if (!read_one_host(problems, entry, out)) return;
  }
}

void read_service_name(Problems& problems, const toml::node& node, GrpcSettings& out) {
  const auto* text = node.as_string();
  if (text == nullptr) {
    problems.add(node.source(),
                 "server.grpc.service_name must be a name in quotes, e.g. \"GunService\", got " +
                     describe(node));
    return;
  }
  const std::string& name = text->get();
  if (name.empty()) {
    problems.add(node.source(),
                 "server.grpc.service_name must not be empty (copy serviceName "
                 "from the server's grpcSettings)");
    return;
  }
  if (std::string problem = path_problem("server.grpc.service_name", name); !problem.empty()) {
    problems.add(node.source(), std::move(problem));
    return;
  }
  // Xray's custom path form needs at least two slashes: "/<service>/<method>".
  if (name.front() == '/' &&
      (std::count(name.begin(), name.end(), '/') < 2 || name.back() == '/')) {
    problems.add(node.source(), "server.grpc.service_name " + quote(name) +
                                    " starts with \"/\", so it is the whole request path, "
                                    "\"/<service>/<method>\" (e.g. \"/my/path/Tun\")");
    return;
  }
  if (name.front() != '/' && name.find('/') != std::string::npos) {
    problems.add(node.source(), "server.grpc.service_name " + quote(name) +
                                    " contains \"/\"; write the name alone (the path is "
                                    "/<service_name>/Tun), or start it with \"/\" to give the "
                                    "whole path");
    return;
  }
  out.service_name = name;
}

}  // namespace

std::string grpc_path(const GrpcSettings& grpc) {
  if (grpc.service_name.starts_with('/')) return grpc.service_name;
  return "/" + grpc.service_name + "/Tun";
}

void read_h2(Problems& problems, const toml::node& node, Profile::Server& out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    problems.add(node.source(),
                 "server.h2 must be a table written [server.h2], got " + describe(node));
    return;
  }
  check_keys(problems, *table, kServerH2);
  if (const toml::node* n = table->get("path")) read_h2_path(problems, *n, out.h2);
  if (const toml::node* n = table->get("host")) read_h2_host(problems, *n, out.h2);
}

void read_grpc(Problems& problems, const toml::node& node, Profile::Server& out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    problems.add(node.source(),
                 "server.grpc must be a table written [server.grpc], got " + describe(node));
    return;
  }
  check_keys(problems, *table, kServerGrpc);
  if (const toml::node* n = table->get("service_name")) {
    read_service_name(problems, *n, out.grpc);
  }
}

}  // namespace vmlocal::config
