// Writing the profile. By hand rather than with toml++ (which stays in config/ and orders keys
// alphabetically): a profile is read by people, so the keys come in conf/example.toml's order,
// with a comment saying where they came from. Only basic strings, escaped per TOML 1.0.
#include <cstdio>
#include <set>

#include "reading.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/base64.hpp"
#include "vmlocal_paths.h"  // VMLOCAL_DOCDIR, from meson.build

namespace vmlocal::import {
namespace {

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : valid_utf8(text)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04X", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A name in a comment: one line, whatever it holds.
std::string comment_text(std::string_view text) {
  std::string out = valid_utf8(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  return out;
}

std::string toml_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? ", " : "") + toml_string(items[i]);
  return out + "]";
}

// One server's keys and sub-tables; `table` is "server" or "servers".
void write_server(const ImportedServer& server, std::string_view table, bool many,
                  std::string& out) {
  const std::string name(table);
  if (many) {
    out += "[[" + name + "]]\n";
    out += "name = " + toml_string(server.name) + "\n";
  } else {
    out += "[" + name + "]\n";
    if (!server.name.empty()) out += "# " + comment_text(server.name) + "\n";
  }
  out += "address = " + toml_string(server.address) + "\n";
  out += "port = " + std::to_string(server.port) + "\n";
  out += "uuid = " + toml_string(server.uuid) + "\n";
  out += "alter_id = " + std::to_string(server.alter_id) + "\n";
  out += "security = " + toml_string(server.security) + "\n";
  out += "transport = " + toml_string(server.transport) + "\n";
  if (server.tls) {
    out += "\n[" + name + ".tls]\n";
    if (!server.sni.empty()) out += "sni = " + toml_string(server.sni) + "\n";
    if (!server.alpn.empty()) out += "alpn = " + toml_list(server.alpn) + "\n";
    if (server.insecure) out += "insecure = true\n";
  }
  if (server.mux) {
    out += "\n[" + name + ".mux]\nenabled = true\n";
    if (server.mux_concurrency > 0) {
      out += "concurrency = " + std::to_string(server.mux_concurrency) + "\n";
    }
  }
  if (server.transport == "tcp" && server.tcp_header == "http") {
    out += "\n[" + name + ".tcp]\nheader = \"http\"\n";
    if (!server.tcp_host.empty()) out += "host = " + toml_list(server.tcp_host) + "\n";
    if (!server.tcp_path.empty()) out += "path = " + toml_list(server.tcp_path) + "\n";
  } else if (server.transport == "ws") {
    out += "\n[" + name + ".ws]\n";
    out += "path = " + toml_string(server.path.empty() ? "/" : server.path) + "\n";
    if (!server.host.empty()) out += "host = " + toml_string(server.host) + "\n";
    if (!server.ws_headers.empty()) {
      out += "headers = { ";
      for (size_t i = 0; i < server.ws_headers.size(); ++i) {
        out += (i ? ", " : "") + toml_string(server.ws_headers[i].first) + " = " +
               toml_string(server.ws_headers[i].second);
      }
      out += " }\n";
    }
    if (server.max_early_data > 0) {
      out += "max_early_data = " + std::to_string(server.max_early_data) + "\n";
      out += "early_data_header = " + toml_string(server.early_data_header) + "\n";
    }
  } else if (server.transport == "h2") {
    out += "\n[" + name + ".h2]\n";
    out += "path = " + toml_string(server.path.empty() ? "/" : server.path) + "\n";
    if (!server.h2_host.empty()) out += "host = " + toml_list(server.h2_host) + "\n";
  } else if (server.transport == "httpupgrade") {
    out += "\n[" + name + ".httpupgrade]\n";
    out += "path = " + toml_string(server.path.empty() ? "/" : server.path) + "\n";
    if (!server.host.empty()) out += "host = " + toml_string(server.host) + "\n";
  } else if (server.transport == "grpc") {
    out += "\n[" + name + ".grpc]\n";
    out += "service_name = " + toml_string(server.grpc_service_name) + "\n";
  }
}

// What the loader takes as a [[servers]] name (config/profile_servers.cpp): 1 to 64 bytes, no
// control characters. A provider's "ps" can be longer (emoji flags, whole descriptions): cut at
// a UTF-8 character boundary, so the profile loads rather than failing on a cosmetic field.
constexpr size_t kMaxNameBytes = 64;

std::string fit_name(std::string name, size_t max_bytes) {
  for (char& c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = ' ';
  }
  if (name.size() > max_bytes) {
    size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80)
      --cut;  // not inside a multi-byte character
    name.resize(cut);
  }
  while (!name.empty() && name.back() == ' ')
    name.pop_back();
  return name;
}

// [[servers]] names must differ; "server N" for one without.
std::vector<ImportedServer> with_unique_names(std::vector<ImportedServer> servers) {
  std::set<std::string> taken;
  for (size_t i = 0; i < servers.size(); ++i) {
    std::string base = fit_name(valid_utf8(servers[i].name), kMaxNameBytes);
    if (base.empty()) base = "server " + std::to_string(i + 1);
    std::string name = base;
    for (int n = 2; taken.count(name); ++n) {
      const std::string suffix = " (" + std::to_string(n) + ")";
      name = fit_name(base, kMaxNameBytes - suffix.size()) + suffix;
    }
    taken.insert(name);
    servers[i].name = name;
  }
  return servers;
}

// The probe is not in a share link, but `vmess-local doctor` uses it on the first run: say what
// it is for, and that it must be a URL the server can reach (a server that reaches only some
// networks, or a test server, fails the probe to the default).
std::string probe_comment() {
  const std::string url = config::Profile::Probe{}.url;
  return "\n# [probe]\n"
         "# A URL fetched through the server to check it end to end: `vmess-local doctor` fetches\n"
         "# it; vmess-local fetches it to fail fast when the server refuses us, and (with several\n"
         "# servers) as the health check. Set a URL the server can reach that answers quickly and\n"
         "# small (an HTTP 204 endpoint); url = \"\" turns the probes off.\n# Default: " +
         toml_string(url) + ".\n# url = " + toml_string(url) + "\n";
}

}  // namespace

std::string to_toml(const std::vector<ImportedServer>& servers, const TomlOptions& options) {
  std::string out;
  if (!options.source.empty()) {
    out += "# vmess-local profile, written by `vmess-local import` from " +
           comment_text(options.source) +
           ".\n# Keep it private (mode 0600): the uuid is your password for the server.\n"
           "# Every key is explained in " VMLOCAL_DOCDIR
           "/example.toml\n# (conf/example.toml in the source).\n\n";
  }
  out += "[local]\n";
  if (options.listen.empty()) {
    out += "# listen = [\"127.0.0.1:1080\"]  # the default: where your apps find the proxy\n";
  } else {
    out += "listen = " + toml_list(options.listen) + "\n";
  }
  out += probe_comment();
  const bool many = servers.size() > 1;
  for (const ImportedServer& server : many ? with_unique_names(servers) : servers) {
    out += "\n";
    write_server(server, many ? "servers" : "server", many, out);
  }
  return out;
}

std::string to_v2rayn_link(const ImportedServer& server) {
  nlohmann::json link = {
      {"v", "2"},
      {"ps", valid_utf8(server.name)},
      {"add", server.address},
      {"port", std::to_string(server.port)},
      {"id", server.uuid},
      {"aid", std::to_string(server.alter_id)},
      {"scy", server.security},
      {"net", server.transport},
      {"type", server.tcp_header == "http" ? "http" : "none"},
      {"host", server.host},
      {"path", server.transport == "grpc" ? server.grpc_service_name : server.path},
      {"tls", server.tls ? "tls" : ""},
      {"sni", server.sni},
      {"alpn", ""},
  };
  auto joined = [](const std::vector<std::string>& list) {
    std::string out;
    for (const std::string& item : list)
      out += (out.empty() ? "" : ",") + item;
    return out;
  };
  if (server.transport == "h2") link["host"] = joined(server.h2_host);
  if (server.tcp_header == "http") {
    link["host"] = joined(server.tcp_host);
    link["path"] = joined(server.tcp_path);
  }
  // Xray's share links put ws early data in the path as "?ed=N" (Sec-WebSocket-Protocol form).
  if (server.transport == "ws" && server.max_early_data > 0 &&
      server.early_data_header == "Sec-WebSocket-Protocol") {
    link["path"] =
        (server.path.empty() ? "/" : server.path) + "?ed=" + std::to_string(server.max_early_data);
  }
  std::string alpn;
  for (const std::string& protocol : server.alpn)
    alpn += (alpn.empty() ? "" : ",") + protocol;
  link["alpn"] = alpn;
  const std::string text = link.dump();
  return "vmess://" + crypto::base64_encode(as_bytes(text));
}

}  // namespace vmlocal::import
