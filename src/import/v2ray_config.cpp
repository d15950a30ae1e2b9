// The "vmess" outbounds of a v2ray/Xray JSON config (v2fly docs: outbounds[].settings.vnext,
// streamSettings; Xray's rawSettings and httpupgradeSettings too). A server config (a vmess
// inbound, clients[]) is named as such: what a user needs is its client side.
#include "reading.hpp"

namespace vmlocal::import {
namespace {

const nlohmann::json* member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string string_at(const nlohmann::json& object, const char* key, const std::string& where,
                      Reading& reading) {
  const nlohmann::json* value = member(object, key);
  if (value == nullptr) return {};
  if (value->is_string()) return value->get<std::string>();
  reading.fail(where + "." + key + " must be a string, got " + json_kind(*value));
  return {};
}

// A string or a list of strings (Host headers are lists in tcpSettings, strings elsewhere).
std::vector<std::string> strings_at(const nlohmann::json& object, const char* key,
                                    const std::string& where, Reading& reading) {
  const nlohmann::json* value = member(object, key);
  if (value == nullptr) return {};
  if (value->is_string()) return split_list(value->get<std::string>());
  std::vector<std::string> out;
  if (value->is_array()) {
    for (const auto& entry : *value) {
      if (!entry.is_string()) {
        reading.fail(where + "." + key + " entries must be strings, got " + json_kind(entry));
        return {};
      }
      out.push_back(entry.get<std::string>());
    }
    return out;
  }
  reading.fail(where + "." + key + " must be a string or a list of strings, got " +
               json_kind(*value));
  return {};
}

bool flag_at(const nlohmann::json& object, const char* key) {
  const nlohmann::json* value = member(object, key);
  return value != nullptr && value->is_boolean() && value->get<bool>();
}

void read_ws_settings(const nlohmann::json& ws, StreamFields& stream, Reading& reading) {
  const std::string where = "streamSettings.wsSettings";
  const std::string path = string_at(ws, "path", where, reading);
  if (!path.empty()) stream.paths = {path};
  stream.hosts = strings_at(ws, "host", where, reading);  // Xray
  if (const nlohmann::json* headers = member(ws, "headers")) {
    if (!headers->is_object()) {
      reading.fail(where + ".headers must be an object, got " + json_kind(*headers));
      return;
    }
    for (const auto& [name, value] : headers->items()) {
      if (!value.is_string()) {
        reading.fail(where + ".headers." + printable(name) + " must be a string, got " +
                     json_kind(value));
        return;
      }
      if (lower(name) == "host") {
        stream.hosts = {value.get<std::string>()};
      } else {
        stream.ws_headers.emplace_back(name, value.get<std::string>());
      }
    }
  }
  if (const nlohmann::json* early = member(ws, "maxEarlyData")) {
    if (!early->is_number_unsigned()) {
      reading.fail(where + ".maxEarlyData must be a whole number, got " + json_kind(*early));
      return;
    }
    stream.max_early_data = early->get<uint32_t>();
    stream.early_data_header = string_at(ws, "earlyDataHeaderName", where, reading);
  }
}

void read_tcp_settings(const nlohmann::json& tcp, const std::string& where, StreamFields& stream,
                       Reading& reading) {
  const nlohmann::json* header = member(tcp, "header");
  if (header == nullptr) return;
  stream.header_type = string_at(*header, "type", where + ".header", reading);
  if (const nlohmann::json* request = member(*header, "request")) {
    stream.paths = strings_at(*request, "path", where + ".header.request", reading);
    if (const nlohmann::json* headers = member(*request, "headers")) {
      for (const auto& [name, value] : headers->items()) {
        if (lower(name) == "host") {
          stream.hosts =
              strings_at(*headers, name.c_str(), where + ".header.request.headers", reading);
        } else {
          reading.warn(where + ".header.request.headers." + printable(name) +
                       " is not supported and was ignored (only Host is sent)");
        }
      }
    }
  }
}

void read_tls_settings(const nlohmann::json& tls, const std::string& where, StreamFields& stream,
                       Reading& reading) {
  stream.sni = string_at(tls, "serverName", where, reading);
  stream.alpn = strings_at(tls, "alpn", where, reading);
  stream.insecure = flag_at(tls, "allowInsecure");
  stream.fingerprint = string_at(tls, "fingerprint", where, reading);
  for (const char* key : {"certificates", "pinnedPeerCertificateChainSha256"}) {
    if (member(tls, key) != nullptr) {
      reading.warn(where + "." + key +
                   " is not imported: set [server.tls] ca_file or pin_sha256 by hand");
    }
  }
}

void read_stream(const nlohmann::json& settings, StreamFields& stream, Reading& reading) {
  const std::string where = "streamSettings";
  stream.network = string_at(settings, "network", where, reading);
  stream.security = string_at(settings, "security", where, reading);
  if (const nlohmann::json* tls = member(settings, "tlsSettings")) {
    read_tls_settings(*tls, where + ".tlsSettings", stream, reading);
  }
  if (const nlohmann::json* ws = member(settings, "wsSettings")) {
    read_ws_settings(*ws, stream, reading);
  }
  for (const char* key : {"tcpSettings", "rawSettings"}) {
    if (const nlohmann::json* tcp = member(settings, key)) {
      read_tcp_settings(*tcp, where + "." + key, stream, reading);
    }
  }
  if (const nlohmann::json* http = member(settings, "httpSettings")) {
    stream.hosts = strings_at(*http, "host", where + ".httpSettings", reading);
    const std::string path = string_at(*http, "path", where + ".httpSettings", reading);
    if (!path.empty()) stream.paths = {path};
  }
  if (const nlohmann::json* grpc = member(settings, "grpcSettings")) {
    stream.service_name = string_at(*grpc, "serviceName", where + ".grpcSettings", reading);
    if (flag_at(*grpc, "multiMode")) stream.grpc_mode = "multi";
  }
  if (const nlohmann::json* upgrade = member(settings, "httpupgradeSettings")) {
    const std::string path = string_at(*upgrade, "path", where + ".httpupgradeSettings", reading);
    if (!path.empty()) stream.paths = {path};
    stream.hosts = strings_at(*upgrade, "host", where + ".httpupgradeSettings", reading);
  }
  // kcp/quic/reality fail through network and security; sockopt only tunes the socket.
  if (member(settings, "sockopt") != nullptr) {
    reading.warn(where + ".sockopt is not imported (socket options such as a mark or TFO)");
  }
}

// One Reading per user of every vnext entry.
void read_outbound(const nlohmann::json& outbound, const std::string& where,
                   std::vector<Reading>& out) {
  Reading base;
  base.where = where;
  std::string tag;
  if (const nlohmann::json* value = member(outbound, "tag"); value && value->is_string()) {
    tag = value->get<std::string>();
  }
  if (const nlohmann::json* mux = member(outbound, "mux"); mux && flag_at(*mux, "enabled")) {
    base.server.mux = true;
    // v2ray's default is 8; Xray's -1 or 0 mean its own default too.
    if (const nlohmann::json* concurrency = member(*mux, "concurrency");
        concurrency && concurrency->is_number_integer() && concurrency->get<int64_t>() > 0) {
      if (concurrency->get<int64_t>() > 1024) {
        base.fail("mux.concurrency must be 1..1024, got " + concurrency->dump());
      } else {
        base.server.mux_concurrency = static_cast<uint32_t>(concurrency->get<int64_t>());
      }
    }
  }
  StreamFields stream;
  if (const nlohmann::json* settings = member(outbound, "streamSettings")) {
    read_stream(*settings, stream, base);
  }
  const nlohmann::json* settings = member(outbound, "settings");
  const nlohmann::json* vnext = settings ? member(*settings, "vnext") : nullptr;
  if (vnext == nullptr || !vnext->is_array() || vnext->empty()) {
    base.fail("settings.vnext must be a list of servers ({\"address\", \"port\", \"users\"})");
    out.push_back(std::move(base));
    return;
  }
  for (size_t v = 0; v < vnext->size(); ++v) {
    const nlohmann::json& entry = (*vnext)[v];
    const std::string entry_where = "settings.vnext[" + std::to_string(v) + "]";
    const nlohmann::json* users = member(entry, "users");
    if (users == nullptr || !users->is_array() || users->empty()) {
      Reading reading = base;
      reading.fail(entry_where + ".users must be a list with your user ({\"id\": ...})");
      out.push_back(std::move(reading));
      continue;
    }
    for (size_t u = 0; u < users->size(); ++u) {
      Reading reading = base;
      const nlohmann::json& user = (*users)[u];
      const std::string user_where = entry_where + ".users[" + std::to_string(u) + "]";
      ImportedServer& server = reading.server;
      server.name = tag;
      if (vnext->size() > 1 || users->size() > 1) {
        server.name += (tag.empty() ? "" : " ") + std::to_string(out.size() + 1);
      }
      server.address = string_at(entry, "address", entry_where, reading);
      if (const nlohmann::json* port = member(entry, "port")) {
        if (port->is_number_unsigned() && port->get<uint64_t>() >= 1 &&
            port->get<uint64_t>() <= 65535) {
          server.port = static_cast<uint16_t>(port->get<uint64_t>());
        } else {
          reading.fail(entry_where + ".port must be a number 1..65535, got " +
                       (port->is_number() ? port->dump() : json_kind(*port)));
        }
      }
      if (server.address.empty()) reading.fail("missing " + entry_where + ".address");
      if (server.port == 0) reading.fail("missing " + entry_where + ".port");
      const std::string id = string_at(user, "id", user_where, reading);
      if (id.empty()) reading.fail("missing " + user_where + ".id (your user ID)");
      if (const nlohmann::json* alter = member(user, "alterId")) {
        if (alter->is_number_unsigned() && alter->get<uint64_t>() <= 65535) {
          server.alter_id = static_cast<uint16_t>(alter->get<uint64_t>());
        } else {
          reading.fail(user_where + ".alterId must be a number 0..65535, got " +
                       (alter->is_number() ? alter->dump() : json_kind(*alter)));
        }
      }
      if (!reading.failed()) set_user_id(id, user_where + ".id", reading);
      if (!reading.failed()) {
        set_security(string_at(user, "security", user_where, reading), user_where + ".security",
                     reading);
      }
      if (!reading.failed()) apply_stream(stream, reading);
      out.push_back(std::move(reading));
    }
  }
}

}  // namespace

void read_v2ray_config(const nlohmann::json& config, std::vector<Reading>& out,
                       std::string& error) {
  if (!config.is_object()) {
    error = "a v2ray/Xray config is a JSON object, got " + json_kind(config);
    return;
  }
  std::vector<std::pair<std::string, const nlohmann::json*>> outbounds;
  std::string protocols;
  auto consider = [&](const nlohmann::json& outbound, std::string where) {
    const nlohmann::json* protocol = member(outbound, "protocol");
    const std::string name = protocol && protocol->is_string() ? protocol->get<std::string>() : "";
    if (lower(name) == "vmess") {
      if (const nlohmann::json* tag = member(outbound, "tag"); tag && tag->is_string()) {
        where += " (tag \"" + printable(tag->get<std::string>()) + "\")";
      }
      outbounds.emplace_back(std::move(where), &outbound);
    } else if (!name.empty()) {
      protocols += (protocols.empty() ? "" : ", ") + printable(name);
    }
  };
  if (const nlohmann::json* list = member(config, "outbounds"); list && list->is_array()) {
    for (size_t i = 0; i < list->size(); ++i)
      consider((*list)[i], "outbounds[" + std::to_string(i) + "]");
  }
  if (const nlohmann::json* single = member(config, "outbound")) consider(*single, "outbound");
  if (outbounds.empty()) {
    bool server_side = false;
    if (const nlohmann::json* list = member(config, "inbounds"); list && list->is_array()) {
      for (const auto& inbound : *list) {
        const nlohmann::json* protocol = member(inbound, "protocol");
        server_side = server_side || (protocol && protocol->is_string() &&
                                      lower(protocol->get<std::string>()) == "vmess");
      }
    }
    error = server_side
                ? "this is a server's config (a vmess inbound): import needs the client "
                  "side, a config with a vmess outbound, or a vmess:// link"
                : "no vmess outbound in this config" +
                      (protocols.empty() ? std::string() : " (its outbounds: " + protocols + ")");
    return;
  }
  for (const auto& [where, outbound] : outbounds) {
    const size_t first = out.size();
    read_outbound(*outbound, where, out);
    for (size_t i = first; i < out.size(); ++i)
      out[i].where = where;
  }
}

}  // namespace vmlocal::import
