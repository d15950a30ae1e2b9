// The table of settings that constrain each other (see constraints.hpp), and how the loader
// applies it to a profile file.
#include "vmlocal/config/constraints.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {
namespace {

// The value of server.transport as written.
std::string transport_key(Transport transport) {
  switch (transport) {
    case Transport::kTcp:
      return "tcp";
    case Transport::kWs:
      return "ws";
    case Transport::kHttpUpgrade:
      return "httpupgrade";
    case Transport::kH2:
      return "h2";
    case Transport::kGrpc:
      return "grpc";
  }
  return "?";
}

bool is_ws(const Profile& p) {
  return p.servers.front().transport == Transport::kWs;
}

// h2 and grpc: both HTTP/2.
bool is_http2(const Profile& p) {
  return p.servers.front().transport == Transport::kH2 ||
         p.servers.front().transport == Transport::kGrpc;
}

// The transport as written in the profile, without "+tls".
std::string written_transport(const Profile& p) {
  return transport_key(p.servers.front().transport);
}

// --- [server.ws] is only read by transport = "ws" ---
bool ws_table_without_ws(const Profile& p, const WrittenKeys& written) {
  return !is_ws(p) && written.has("server.ws");
}
std::string ws_table_without_ws_reason(const Profile& p) {
  return "[server.ws] is set, but server.transport is " + quote(written_transport(p));
}

// --- [server.h2] and [server.grpc] are only read by their transports ---
bool h2_table_without_h2(const Profile& p, const WrittenKeys& written) {
  return p.servers.front().transport != Transport::kH2 && written.has("server.h2");
}
std::string h2_table_without_h2_reason(const Profile& p) {
  return "[server.h2] is set, but server.transport is " + quote(written_transport(p));
}
bool grpc_table_without_grpc(const Profile& p, const WrittenKeys& written) {
  return p.servers.front().transport != Transport::kGrpc && written.has("server.grpc");
}
std::string grpc_table_without_grpc_reason(const Profile& p) {
  return "[server.grpc] is set, but server.transport is " + quote(written_transport(p));
}

// --- h2 and grpc are HTTP/2 over TLS ---
// HTTP/2 over TLS is chosen by ALPN "h2" (RFC 9113 §3.2); v2ray's client refuses the http
// transport without TLS, and gRPC servers behind a TLS port expect it. (Cleartext h2c exists,
// but no server a user of this program runs offers it for these transports.)
bool http2_without_tls(const Profile& p, const WrittenKeys&) {
  return is_http2(p) && !p.servers.front().tls;
}
std::string http2_without_tls_reason(const Profile& p) {
  return "server.transport = " + quote(written_transport(p)) +
         " is HTTP/2 over TLS (negotiated with ALPN \"h2\"), and the profile has no [server.tls]";
}

// --- HTTP/2 offers ALPN "h2" and nothing else ---
// Repaired rather than refused, as under ws: the transport decides the protocol, so any list
// comes down to the one entry that works, and a list without "h2" is almost always one copied
// from a tcp or ws profile. Offering "http/1.1" as well would let a server pick it, and the
// HTTP/2 connection preface would then fail; the warning says what was dropped.
bool http2_alpn_not_h2(const Profile& p, const WrittenKeys&) {
  return is_http2(p) && p.servers.front().tls && p.servers.front().tls->alpn &&
         *p.servers.front().tls->alpn != std::vector<std::string>{"h2"};
}
std::string http2_alpn_reason(const Profile& p) {
  std::vector<std::string_view> dropped;
  for (const std::string& protocol : *p.servers.front().tls->alpn) {
    if (protocol != "h2" && std::find(dropped.begin(), dropped.end(), protocol) == dropped.end()) {
      dropped.emplace_back(protocol);
    }
  }
  std::string reason = "server.tls.alpn: " + written_transport(p) + " needs HTTP/2; ";
  if (dropped.empty()) {
    reason += "offering exactly \"h2\"";
  } else {
    reason += "dropped " + join_quoted(dropped) +
              " (a server offered it may take it, and HTTP/2 then fails), offering only \"h2\"";
  }
  return reason;
}
void http2_alpn_repair(Profile& p) {
  p.servers.front().tls->alpn = std::vector<std::string>{"h2"};
}

// --- grpc needs the service name: it is the request path ---
bool grpc_without_service_name(const Profile& p, const WrittenKeys&) {
  return p.servers.front().transport == Transport::kGrpc &&
         p.servers.front().grpc.service_name.empty();
}
std::string grpc_without_service_name_reason(const Profile&) {
  return "server.transport = \"grpc\" needs the server's serviceName (the request path is "
         "/<service_name>/Tun), and [server.grpc] service_name is not set";
}

// --- [server.httpupgrade] is only read by transport = "httpupgrade" ---
bool httpupgrade_table_without_httpupgrade(const Profile& p, const WrittenKeys& written) {
  return p.servers.front().transport != Transport::kHttpUpgrade &&
         written.has("server.httpupgrade");
}
std::string httpupgrade_table_without_httpupgrade_reason(const Profile& p) {
  return "[server.httpupgrade] is set, but server.transport is " +
         quote(transport_key(p.servers.front().transport));
}

// --- [server.tcp] is only read by transport = "tcp" ---
bool tcp_table_without_tcp(const Profile& p, const WrittenKeys& written) {
  return p.servers.front().transport != Transport::kTcp && written.has("server.tcp");
}
std::string tcp_table_without_tcp_reason(const Profile& p) {
  return "[server.tcp] is set, but server.transport is " +
         quote(transport_key(p.servers.front().transport));
}

// --- [server.tcp] host and path belong to the http header ---
bool tcp_http_keys_without_header(const Profile& p, const WrittenKeys& written) {
  return p.servers.front().tcp.header != TcpHeader::kHttp &&
         (written.has("server.tcp.host") || written.has("server.tcp.path"));
}
std::string tcp_http_keys_without_header_reason(const Profile& p) {
  return std::string("server.tcp.") + (p.servers.front().tcp.host.empty() ? "path" : "host") +
         R"( is only sent with header = "http", and server.tcp.header is "none")";
}

// --- early_data_header only says where max_early_data's bytes go ---
bool early_header_without_early_data(const Profile& p, const WrittenKeys& written) {
  return p.servers.front().ws.max_early_data == 0 && written.has("server.ws.early_data_header");
}
std::string early_header_without_early_data_reason(const Profile&) {
  return "server.ws.early_data_header is set, but server.ws.max_early_data is 0 (early data off)";
}

// --- a header the profile also sets would be sent twice ---
bool early_header_in_headers(const Profile& p, const WrittenKeys&) {
  if (p.servers.front().ws.max_early_data == 0 || p.servers.front().ws.early_data_header.empty())
    return false;
  for (const auto& [name, _] : p.servers.front().ws.headers) {
    if (name.size() == p.servers.front().ws.early_data_header.size() &&
        std::equal(name.begin(), name.end(), p.servers.front().ws.early_data_header.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return true;
    }
  }
  return false;
}
std::string early_header_in_headers_reason(const Profile& p) {
  return "server.ws.headers sets " + quote(p.servers.front().ws.early_data_header) +
         ", the header server.ws.early_data_header puts the early data in";
}

// --- WebSocket and HTTPUpgrade are HTTP/1.1 upgrades: offer ALPN "http/1.1" and nothing else ---
// A server that is offered "h2" takes it (v2ray's TLS inbound prefers h2), and the upgrade
// request then cannot be sent; an empty list would leave the choice to the server.
bool ws_alpn_not_http11(const Profile& p, const WrittenKeys&) {
  return (is_ws(p) || p.servers.front().transport == Transport::kHttpUpgrade) &&
         p.servers.front().tls && p.servers.front().tls->alpn &&
         *p.servers.front().tls->alpn != std::vector<std::string>{"http/1.1"};
}
std::string ws_alpn_reason(const Profile& p) {
  std::vector<std::string_view> dropped;
  for (const std::string& protocol : *p.servers.front().tls->alpn) {
    if (protocol != "http/1.1" &&
        std::find(dropped.begin(), dropped.end(), protocol) == dropped.end()) {
      dropped.emplace_back(protocol);
    }
  }
  const std::string name = is_ws(p) ? "WebSocket" : "HTTPUpgrade";
  std::string reason = "server.tls.alpn: " + name + " needs HTTP/1.1; ";
  if (dropped.empty()) {
    reason += "offering exactly \"http/1.1\"";
  } else {
    reason += "dropped " + join_quoted(dropped) + " (a server offered it takes it, and the " +
              name +
              " upgrade then fails), offering "
              "only \"http/1.1\"";
  }
  return reason;
}
void ws_alpn_repair(Profile& p) {
  p.servers.front().tls->alpn = std::vector<std::string>{"http/1.1"};
}

// --- insecure turns off what ca_file and pin_sha256 configure ---
bool insecure_with_trust(const Profile& p, const WrittenKeys&) {
  return p.servers.front().tls && p.servers.front().tls->insecure &&
         (!p.servers.front().tls->ca_file.empty() || !p.servers.front().tls->pin_sha256.empty());
}
std::string insecure_with_trust_reason(const Profile&) {
  return "server.tls.insecure = true turns off the checks that ca_file and pin_sha256 ask for";
}

// --- a pin is trusted on its own: ca_file would never be consulted ---
bool ca_file_with_pin(const Profile& p, const WrittenKeys&) {
  return p.servers.front().tls && !p.servers.front().tls->ca_file.empty() &&
         !p.servers.front().tls->pin_sha256.empty();
}
std::string ca_file_with_pin_reason(const Profile&) {
  return "server.tls.ca_file is not used when pin_sha256 is set (a pinned key is trusted on its "
         "own)";
}

// --- insecure alone: accepted, but never quietly (the other rule refuses it with a trust key) ---
bool insecure_alone(const Profile& p, const WrittenKeys&) {
  return p.servers.front().tls && p.servers.front().tls->insecure &&
         p.servers.front().tls->ca_file.empty() && p.servers.front().tls->pin_sha256.empty();
}
std::string insecure_alone_reason(const Profile&) {
  return "server.tls.insecure = true: the server's certificate is NOT verified. Anyone between "
         "you and the server can read and change your traffic";
}

// --- alter_id > 0 selects the legacy header, which servers updated since 2022 refuse ---
bool legacy_header(const Profile& p, const WrittenKeys&) {
  return p.servers.front().alter_id > 0;
}
std::string legacy_header_reason(const Profile&) {
  return "server.alter_id > 0 selects the legacy VMess header; servers updated since 2022 "
         "usually refuse it";
}

// --- security "none"/"zero" leave the data readable unless TLS is below ---
bool plaintext_on_the_wire(const Profile& p, const WrittenKeys&) {
  return !p.servers.front().tls && (p.servers.front().security == vmess::Security::kNone ||
                                    p.servers.front().security == vmess::Security::kZero);
}
std::string plaintext_reason(const Profile& p) {
  return "server.security = " + quote(vmess::security_name(p.servers.front().security)) +
         " does not encrypt your data, and without [server.tls] nothing else does: the network "
         "can read and recognise it";
}

// --- RFC 1929 needs both halves ---
bool half_a_credential(const Profile& p, const WrittenKeys&) {
  return p.local.username.empty() != p.local.password.empty();
}
std::string half_a_credential_reason(const Profile& p) {
  return p.local.password.empty() ? "local.username needs local.password as well"
                                  : "local.password needs local.username as well";
}

// --- SOCKS4 cannot carry a password: with credentials set it is always refused ---
bool socks4_only_with_credentials(const Profile& p, const WrittenKeys&) {
  const Profile::Local::Protocols& on = p.local.protocols;
  return !p.local.username.empty() && on.socks4 && !on.socks5 && !on.http;
}
std::string socks4_only_reason(const Profile&) {
  return "local.protocols accepts only SOCKS4, which cannot carry the local.username/password "
         "set here: every connection would be refused";
}

// --- an address beyond loopback without a username is an open proxy ---
const ListenEndpoint* exposed_endpoint(const Profile& p) {
  if (!p.local.username.empty() || p.local.allow_open_proxy) return nullptr;
  for (const ListenEndpoint& endpoint : p.local.listen) {
    if (!endpoint.is_loopback()) return &endpoint;
  }
  return nullptr;
}
bool open_proxy(const Profile& p, const WrittenKeys&) {
  return exposed_endpoint(p) != nullptr;
}
std::string open_proxy_reason(const Profile& p) {
  return "listening on " + exposed_endpoint(p)->to_string() +
         " lets other machines use your server through this proxy, and [local] sets no "
         "username and password";
}

// --- UDP needs VMess chunks: "zero" sends the bare body, and datagram boundaries are lost ---
// Only when udp = true is written: by default UDP is simply off with "zero" (udp_enabled()).
// With several servers, UDP goes to those that have chunks: refused only when none has. Over
// Mux.Cool ([server.mux] on) "zero" is fine: each datagram is a frame of its own.
bool udp_without_chunks(const Profile& p, const WrittenKeys& written) {
  return p.local.udp && written.has("local.udp") &&
         std::none_of(p.servers.begin(), p.servers.end(), carries_datagrams);
}
std::string udp_without_chunks_reason(const Profile&) {
  return R"(server.security = "zero" sends the body without VMess chunks, so a server cannot )"
         "tell one datagram from the next: SOCKS5 UDP (local.udp = true) cannot work over it";
}

constexpr std::array kConstraints = {
    Constraint{"ws-table-needs-ws",
               R"(server.transport x [server.ws])",
               {"server.ws", ""},
               Verdict::kRefuse,
               ws_table_without_ws,
               ws_table_without_ws_reason,
               R"(add transport = "ws" to [server] (or remove [server.ws]))",
               nullptr},
    Constraint{"httpupgrade-table-needs-httpupgrade",
               R"(server.transport x [server.httpupgrade])",
               {"server.httpupgrade", ""},
               Verdict::kRefuse,
               httpupgrade_table_without_httpupgrade,
               httpupgrade_table_without_httpupgrade_reason,
               R"(add transport = "httpupgrade" to [server] (or remove [server.httpupgrade]))",
               nullptr},
    Constraint{"tcp-table-needs-tcp",
               R"(server.transport x [server.tcp])",
               {"server.tcp", ""},
               Verdict::kRefuse,
               tcp_table_without_tcp,
               tcp_table_without_tcp_reason,
               R"(remove [server.tcp], or write transport = "tcp")",
               nullptr},
    Constraint{"tcp-http-keys-need-header",
               R"(server.tcp.header x server.tcp.host / path)",
               {"server.tcp.host", "server.tcp.path"},
               Verdict::kRefuse,
               tcp_http_keys_without_header,
               tcp_http_keys_without_header_reason,
               R"(add header = "http" to [server.tcp] if the server uses it, or remove them)",
               nullptr},
    Constraint{"ws-early-header-needs-early-data",
               "server.ws.early_data_header x server.ws.max_early_data",
               {"server.ws.early_data_header", ""},
               Verdict::kRefuse,
               early_header_without_early_data,
               early_header_without_early_data_reason,
               "set max_early_data (e.g. 2048, as the server allows) or remove early_data_header",
               nullptr},
    Constraint{"ws-early-header-vs-headers",
               "server.ws.early_data_header x server.ws.headers",
               {"server.ws.headers", "server.ws.early_data_header"},
               Verdict::kRefuse,
               early_header_in_headers,
               early_header_in_headers_reason,
               "remove it from headers",
               nullptr},
    Constraint{"ws-alpn-http11",
               R"(server.transport = "ws" / "httpupgrade" x server.tls.alpn)",
               {"server.tls.alpn", ""},
               Verdict::kRepair,
               ws_alpn_not_http11,
               ws_alpn_reason,
               R"(write alpn = ["http/1.1"] or leave alpn out)",
               ws_alpn_repair},
    Constraint{"h2-table-needs-h2",
               R"(server.transport x [server.h2])",
               {"server.h2", ""},
               Verdict::kRefuse,
               h2_table_without_h2,
               h2_table_without_h2_reason,
               R"(add transport = "h2" to [server] (or remove [server.h2]))",
               nullptr},
    Constraint{"grpc-table-needs-grpc",
               R"(server.transport x [server.grpc])",
               {"server.grpc", ""},
               Verdict::kRefuse,
               grpc_table_without_grpc,
               grpc_table_without_grpc_reason,
               R"(add transport = "grpc" to [server] (or remove [server.grpc]))",
               nullptr},
    Constraint{"http2-needs-tls",
               R"(server.transport = "h2"/"grpc" x no [server.tls])",
               {"server.transport", ""},
               Verdict::kRefuse,
               http2_without_tls,
               http2_without_tls_reason,
               "add [server.tls] (with sni if the certificate's name is not the address)",
               nullptr},
    Constraint{"http2-alpn-h2",
               R"(server.transport = "h2"/"grpc" x server.tls.alpn)",
               {"server.tls.alpn", ""},
               Verdict::kRepair,
               http2_alpn_not_h2,
               http2_alpn_reason,
               R"(write alpn = ["h2"] or leave alpn out)",
               http2_alpn_repair},
    Constraint{"grpc-service-name",
               R"(server.transport = "grpc" x [server.grpc] service_name)",
               {"server.transport", ""},
               Verdict::kRefuse,
               grpc_without_service_name,
               grpc_without_service_name_reason,
               R"(add [server.grpc] with service_name = "..." as in the server's grpcSettings)",
               nullptr},
    Constraint{"tls-insecure-vs-trust",
               "server.tls.insecure x server.tls.ca_file / pin_sha256",
               {"server.tls.insecure", ""},
               Verdict::kRefuse,
               insecure_with_trust,
               insecure_with_trust_reason,
               "use one or the other",
               nullptr},
    Constraint{"tls-ca-file-vs-pin",
               "server.tls.ca_file x server.tls.pin_sha256",
               {"server.tls.ca_file", ""},
               Verdict::kRefuse,
               ca_file_with_pin,
               ca_file_with_pin_reason,
               "keep one of them",
               nullptr},
    Constraint{"tls-insecure",
               "server.tls.insecure x (no ca_file, no pin_sha256)",
               {"server.tls.insecure", ""},
               Verdict::kWarn,
               insecure_alone,
               insecure_alone_reason,
               "use ca_file or pin_sha256 instead",
               nullptr},
    Constraint{"legacy-header",
               "server.alter_id x the server's header mode",
               {"server.alter_id", ""},
               Verdict::kWarn,
               legacy_header,
               legacy_header_reason,
               "use alter_id = 0 unless your server needs it",
               nullptr},
    Constraint{"plaintext-security",
               R"(server.security "none"/"zero" x no [server.tls])",
               {"server.security", ""},
               Verdict::kWarn,
               plaintext_on_the_wire,
               plaintext_reason,
               R"(add [server.tls] if the server has TLS, or use security = "auto" unless the )"
               R"(path is already private (a LAN, an SSH tunnel))",
               nullptr},
    Constraint{"udp-needs-chunks",
               R"(local.udp x server.security = "zero")",
               {"local.udp", "server.security"},
               Verdict::kRefuse,
               udp_without_chunks,
               udp_without_chunks_reason,
               R"(use security = "none" (no encryption either, but chunked) to keep UDP, turn )"
               R"(on [server.mux] (UDP then goes as Mux.Cool frames), or write udp = false in )"
               R"([local])",
               nullptr},
    Constraint{"local-credentials-pair",
               "local.username x local.password",
               {"local.username", "local.password"},
               Verdict::kRefuse,
               half_a_credential,
               half_a_credential_reason,
               "set both (1 to 255 bytes each), or neither",
               nullptr},
    Constraint{"socks4-only-with-credentials",
               "local.protocols x local.username",
               {"local.protocols", ""},
               Verdict::kRefuse,
               socks4_only_with_credentials,
               socks4_only_reason,
               R"(add "socks5" or "http" to protocols (both carry a password), or remove the )"
               R"(username and password)",
               nullptr},
    Constraint{"open-proxy",
               "local.listen x local.username x local.allow_open_proxy",
               {"local.listen", ""},
               Verdict::kRefuse,
               open_proxy,
               open_proxy_reason,
               "add them, listen on 127.0.0.1 or [::1], or set allow_open_proxy = true if an "
               "open proxy is really what you want",
               nullptr},
};

void collect_keys(const toml::table& table, const std::string& prefix, WrittenKeys& out) {
  for (auto&& [key, value] : table) {
    std::string name =
        prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const toml::table* inner = value.as_table()) collect_keys(*inner, name, out);
    out.keys.push_back(std::move(name));
  }
}

// A rule about one server's keys: applied to each server on its own.
bool is_server_rule(const Constraint& rule) {
  return rule.at[0].starts_with("server");
}

}  // namespace

bool WrittenKeys::has(std::string_view dotted) const {
  return std::find(keys.begin(), keys.end(), dotted) != keys.end();
}

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kRefuse:
      return "refuse";
    case Verdict::kRepair:
      return "repair";
    case Verdict::kWarn:
      return "warn";
  }
  return "?";
}

std::span<const Constraint> constraints() {
  return kConstraints;
}

std::vector<Finding> apply_constraints(Profile& profile, const WrittenKeys& written) {
  const std::vector<WrittenKeys> per_server(profile.servers.size(), written);
  return apply_constraints(profile, per_server);
}

std::vector<Finding> apply_constraints(Profile& profile, std::span<const WrittenKeys> written) {
  std::vector<Finding> findings;
  for (const Constraint& rule : kConstraints) {
    if (!is_server_rule(rule)) {
      if (!rule.breaks(profile, written.front())) continue;
      findings.push_back(
          {&rule, rule.reason(profile) + "; " + std::string(rule.fix), std::nullopt});
      if (rule.repair != nullptr) rule.repair(profile);
      continue;
    }
    // A server rule sees a profile holding only the server it is about, so the rules stay
    // written for one server.
    for (size_t i = 0; i < profile.servers.size(); ++i) {
      Profile one = profile;
      one.servers = {profile.servers[i]};
      if (!rule.breaks(one, written[i])) continue;
      findings.push_back({&rule, rule.reason(one) + "; " + std::string(rule.fix), i});
      if (rule.repair != nullptr) {
        rule.repair(one);
        profile.servers[i] = std::move(one.servers.front());
      }
    }
  }
  return findings;
}

std::optional<std::string> open_proxy_problem(const Profile& profile) {
  if (!open_proxy(profile, WrittenKeys{})) return std::nullopt;
  const auto rule = std::find_if(kConstraints.begin(), kConstraints.end(),
                                 [](const Constraint& c) { return c.id == "open-proxy"; });
  return open_proxy_reason(profile) + "; " + std::string(rule->fix);
}

void check_constraints(Problems& problems, std::vector<std::string>& warnings,
                       const toml::table& root, std::string_view source_path, Profile& profile) {
  // The keys written for each server, spelt "server.*" whichever table they came from.
  const toml::array* list = root.get("servers") ? root.get("servers")->as_array() : nullptr;
  std::vector<WrittenKeys> written(profile.servers.size());
  for (size_t i = 0; i < written.size(); ++i) {
    for (auto&& [key, value] : root) {
      if (key.str() == "servers") continue;
      written[i].keys.emplace_back(key.str());
      if (const toml::table* inner = value.as_table()) {
        collect_keys(*inner, std::string(key.str()), written[i]);
      }
    }
    if (list != nullptr) {
      written[i].keys.emplace_back("server");
      collect_keys(*list->get(i)->as_table(), "server", written[i]);
    }
  }
  for (const Finding& finding : apply_constraints(profile, written)) {
    // The first key of the rule that the file wrote; every rule has one, since defaults
    // never break a rule, but 1:1 is the fallback.
    Position at;
    const toml::node* node = nullptr;
    for (std::string_view key : finding.rule->at) {
      if (key.empty()) continue;
      std::string path(key);
      if (list != nullptr && finding.server && key.starts_with("server")) {
        path = "servers[" + std::to_string(*finding.server) + "]" + path.substr(6);
      }
      if ((node = root.at_path(path).node()) != nullptr) break;
    }
    if (node != nullptr) at = position_of(node->source());
    std::string message = finding.message;
    if (list != nullptr && finding.server) {
      message = "[[servers]] " + quote(profile.servers[*finding.server].name) + ": " + message;
    }
    if (finding.rule->verdict == Verdict::kRefuse) {
      if (node != nullptr) {
        problems.add(node->source(), std::move(message));
      } else {
        problems.add_missing(nullptr, std::move(message));
      }
    } else {
      warnings.push_back(format_problem(source_path, at, message));
    }
  }
}

}  // namespace vmlocal::config
