// The table of settings that constrain each other (see constraints.hpp), and how the loader
// applies it to a profile file.
#include "vmlocal/config/constraints.hpp"

#include <algorithm>
#include <utility>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {
namespace {

bool is_ws(const Profile& p) {
  return p.server.transport == Transport::kWs;
}

// --- [server.ws] is only read by transport = "ws" ---
bool ws_table_without_ws(const Profile& p, const WrittenKeys& written) {
  return !is_ws(p) && written.has("server.ws");
}
std::string ws_table_without_ws_reason(const Profile&) {
  return R"([server.ws] is set, but server.transport is "tcp")";
}

// --- WebSocket is an HTTP/1.1 upgrade: offer ALPN "http/1.1" and nothing else ---
// A server that is offered "h2" takes it (v2ray's TLS inbound prefers h2), and the upgrade
// request then cannot be sent; an empty list would leave the choice to the server.
bool ws_alpn_not_http11(const Profile& p, const WrittenKeys&) {
  return is_ws(p) && p.server.tls && p.server.tls->alpn &&
         *p.server.tls->alpn != std::vector<std::string>{"http/1.1"};
}
std::string ws_alpn_reason(const Profile& p) {
  std::vector<std::string_view> dropped;
  for (const std::string& protocol : *p.server.tls->alpn) {
    if (protocol != "http/1.1" &&
        std::find(dropped.begin(), dropped.end(), protocol) == dropped.end()) {
      dropped.emplace_back(protocol);
    }
  }
  std::string reason = "server.tls.alpn: WebSocket needs HTTP/1.1; ";
  if (dropped.empty()) {
    reason += "offering exactly \"http/1.1\"";
  } else {
    reason += "dropped " + join_quoted(dropped) +
              " (a server offered it takes it, and the WebSocket upgrade then fails), offering "
              "only \"http/1.1\"";
  }
  return reason;
}
void ws_alpn_repair(Profile& p) {
  p.server.tls->alpn = std::vector<std::string>{"http/1.1"};
}

// --- insecure turns off what ca_file and pin_sha256 configure ---
bool insecure_with_trust(const Profile& p, const WrittenKeys&) {
  return p.server.tls && p.server.tls->insecure &&
         (!p.server.tls->ca_file.empty() || !p.server.tls->pin_sha256.empty());
}
std::string insecure_with_trust_reason(const Profile&) {
  return "server.tls.insecure = true turns off the checks that ca_file and pin_sha256 ask for";
}

// --- a pin is trusted on its own: ca_file would never be consulted ---
bool ca_file_with_pin(const Profile& p, const WrittenKeys&) {
  return p.server.tls && !p.server.tls->ca_file.empty() && !p.server.tls->pin_sha256.empty();
}
std::string ca_file_with_pin_reason(const Profile&) {
  return "server.tls.ca_file is not used when pin_sha256 is set (a pinned key is trusted on its "
         "own)";
}

// --- insecure alone: accepted, but never quietly (the other rule refuses it with a trust key) ---
bool insecure_alone(const Profile& p, const WrittenKeys&) {
  return p.server.tls && p.server.tls->insecure && p.server.tls->ca_file.empty() &&
         p.server.tls->pin_sha256.empty();
}
std::string insecure_alone_reason(const Profile&) {
  return "server.tls.insecure = true: the server's certificate is NOT verified. Anyone between "
         "you and the server can read and change your traffic";
}

// --- alter_id > 0 selects the legacy header, which servers updated since 2022 refuse ---
bool legacy_header(const Profile& p, const WrittenKeys&) {
  return p.server.alter_id > 0;
}
std::string legacy_header_reason(const Profile&) {
  return "server.alter_id > 0 selects the legacy VMess header; servers updated since 2022 "
         "usually refuse it";
}

// --- security "none"/"zero" leave the data readable unless TLS is below ---
bool plaintext_on_the_wire(const Profile& p, const WrittenKeys&) {
  return !p.server.tls && (p.server.security == vmess::Security::kNone ||
                           p.server.security == vmess::Security::kZero);
}
std::string plaintext_reason(const Profile& p) {
  return "server.security = " + quote(vmess::security_name(p.server.security)) +
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
bool udp_without_chunks(const Profile& p, const WrittenKeys& written) {
  return p.local.udp && p.server.security == vmess::Security::kZero && written.has("local.udp");
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
    Constraint{"ws-alpn-http11",
               R"(server.transport = "ws" x server.tls.alpn)",
               {"server.tls.alpn", ""},
               Verdict::kRepair,
               ws_alpn_not_http11,
               ws_alpn_reason,
               R"(write alpn = ["http/1.1"] or leave alpn out)",
               ws_alpn_repair},
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
               R"(use security = "none" (no encryption either, but chunked) to keep UDP, or )"
               R"(write udp = false in [local])",
               nullptr},
    Constraint{"local-credentials-pair",
               "local.username x local.password",
               {"local.username", "local.password"},
               Verdict::kRefuse,
               half_a_credential,
               half_a_credential_reason,
               "set both (1 to 255 bytes each), or neither",
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
  std::vector<Finding> findings;
  for (const Constraint& rule : kConstraints) {
    if (!rule.breaks(profile, written)) continue;
    findings.push_back({&rule, rule.reason(profile) + "; " + std::string(rule.fix)});
    if (rule.repair != nullptr) rule.repair(profile);
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
  WrittenKeys written;
  collect_keys(root, "", written);
  for (const Finding& finding : apply_constraints(profile, written)) {
    // The first key of the rule that the file wrote; every rule has one, since defaults
    // never break a rule, but 1:1 is the fallback.
    Position at;
    const toml::node* node = nullptr;
    for (std::string_view key : finding.rule->at) {
      if (!key.empty() && (node = root.at_path(key).node()) != nullptr) break;
    }
    if (node != nullptr) at = position_of(node->source());
    if (finding.rule->verdict == Verdict::kRefuse) {
      if (node != nullptr) {
        problems.add(node->source(), finding.message);
      } else {
        problems.add_missing(nullptr, finding.message);
      }
    } else {
      warnings.push_back(format_problem(source_path, at, finding.message));
    }
  }
}

}  // namespace vmlocal::config
