// `vmess-local import`: what panels and providers hand out, turned into a profile.
//
// Reads, from one text:
//   - v2rayN's share link: "vmess://" + base64 of a JSON object with the fields v, ps, add,
//     port, id, aid, scy, net, type, host, path, tls, sni, alpn, fp (v2rayN's
//     ShareHandler; base64 standard or URL-safe, padded or not);
//   - the URI form of Xray's share-link proposal (XTLS/Xray-core discussion #716):
//     "vmess://UUID@HOST:PORT?type=ws&security=tls&path=...&host=...&sni=...&alpn=...
//     &encryption=...&headerType=...&serviceName=...&mode=...#NAME";
//   - a subscription: such links one per line, as they are or base64-encoded as a whole;
//   - a v2ray/Xray JSON config: every user of every "vmess" outbound (settings.vnext), with its
//     streamSettings (network, security, tlsSettings, tcpSettings/rawSettings, wsSettings,
//     httpSettings, grpcSettings, httpupgradeSettings).
// Pure: bytes in, TOML text out. Fetching a subscription URL is the command line's job.
//
// Nothing is dropped silently. A setting that changes how the server is reached and that this
// build cannot honour (kcp, quic, REALITY, a transport not built yet: see features.hpp) makes
// that server's import fail with a message; a setting that does not (a TLS fingerprint)
// is named in a warning. Every server is checked by the profile loader before it is written,
// so what import prints loads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vmlocal::import {

// One server in the profile's terms (conf/example.toml). The uuid is secret: it goes into the
// profile and nowhere else (never into a warning or an error).
struct ImportedServer {
  std::string name;  // the link's "ps" / "#NAME", the outbound's tag; may be empty
  std::string address;
  uint16_t port = 0;
  std::string uuid;  // canonical 8-4-4-4-12 (string ids are mapped as Xray does)
  uint16_t alter_id = 0;
  std::string security = "auto";
  std::string transport = "tcp";  // "tcp" | "ws" | "h2" | "httpupgrade" | "grpc"
  // transport = "tcp": header "none" | "http" ([server.tcp]).
  std::string tcp_header = "none";
  std::vector<std::string> tcp_host;
  std::vector<std::string> tcp_path;
  // ws, httpupgrade, h2: path ("" = the default "/"); ws and httpupgrade: host.
  std::string path;
  std::string host;
  std::vector<std::string> h2_host;
  std::vector<std::pair<std::string, std::string>> ws_headers;  // besides Host
  uint32_t max_early_data = 0;                                  // ws early data ("?ed=N"), 0 = off
  std::string early_data_header;
  std::string grpc_service_name;
  bool tls = false;
  std::string sni;
  std::vector<std::string> alpn;
  bool insecure = false;
  // [server.mux]: the JSON config's outbound "mux" (v2ray's Mux.Cool); 0: the default.
  bool mux = false;
  uint32_t mux_concurrency = 0;
};

struct ImportResult {
  std::vector<ImportedServer> servers;
  // One line each, naming the server (its name or "server N") and the setting.
  std::vector<std::string> warnings;
  // One line per server that could not be imported (it is not in `servers`), or one line for
  // the whole input when nothing in it could be read.
  std::vector<std::string> errors;
};

// Any of the inputs above. A subscription's lines are numbered from 1 in messages.
ImportResult import_text(std::string_view text);

struct TomlOptions {
  std::string source;               // what was imported, for the header comment (not a secret)
  std::vector<std::string> listen;  // [local] listen; empty: the default, as a comment
};

// One server: a [server] table; several: [[servers]] tables, each with a unique name.
std::string to_toml(const std::vector<ImportedServer>& servers, const TomlOptions& options);

// "vmess://..." for a server, in v2rayN's form (base64 of the JSON object): the demo prints
// its own server's link this way.
std::string to_v2rayn_link(const ImportedServer& server);

}  // namespace vmlocal::import
