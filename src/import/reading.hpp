// What the readers of src/import share: a server being read, with what went wrong with it, and
// the stream settings every source describes in its own words. Private to src/import.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmlocal/import/import.hpp"

namespace vmlocal::import {

// One server as it is read. The first failure wins: one precise line is what a user needs.
struct Reading {
  ImportedServer server;
  std::string where;  // "link 2", "outbounds[0] (tag \"proxy\")": prefixes every message
  std::vector<std::string> warnings;
  std::string error;

  void fail(std::string message) {
    if (error.empty()) error = std::move(message);
  }
  void warn(std::string message) { warnings.push_back(std::move(message)); }
  bool failed() const { return !error.empty(); }
};

// streamSettings, a link's net/type/host/path/tls/... in one shape.
struct StreamFields {
  std::string network;      // as written: tcp, raw, ws, h2, http, grpc, httpupgrade, kcp, ...
  std::string header_type;  // tcp: none | http; kcp/quic: their header types
  std::vector<std::string> hosts;
  std::vector<std::string> paths;  // tcp http header: several; otherwise the first is used
  std::vector<std::pair<std::string, std::string>> ws_headers;  // besides Host
  uint32_t max_early_data = 0;                                  // from a JSON config
  std::string early_data_header;
  std::string service_name;  // grpc
  std::string grpc_mode;     // grpc: gun | multi
  std::string security;      // "", none, tls, reality, xtls
  std::string sni;
  std::vector<std::string> alpn;
  bool insecure = false;
  std::string fingerprint;  // uTLS fingerprint: cannot be honoured, cosmetic
};

// Sets the transport and TLS of `reading.server` from `stream`, failing for what this build
// cannot reach a server with (features.hpp).
void apply_stream(const StreamFields& stream, Reading& reading);

// The user id as written (UUID, 32 digits or a 1..30 byte name) -> canonical; fails without
// echoing it.
void set_user_id(std::string_view text, std::string_view field, Reading& reading);
void set_security(std::string_view text, std::string_view field, Reading& reading);

// What a link cut short while copying gets, whatever part of it was lost.
inline constexpr std::string_view kLinkCutOff = "the link looks cut off (copy it whole)";

// Whether `text` is base64 of the start of a JSON object (v2rayN's link body without
// "vmess://"), whole or cut short anywhere, even inside a base64 quantum.
bool looks_like_v2rayn_body(std::string_view text);

// The URI form's ID@HOST:PORT[?...][#...] on one line, without "vmess://" before it.
bool looks_like_bare_uri(std::string_view text);

// The readers. `body` is what follows "vmess://".
void read_v2rayn_link(std::string_view body, Reading& reading);
void read_uri_link(std::string_view body, Reading& reading);
// Every vmess outbound user in a parsed config; `error` when there is none.
void read_v2ray_config(const nlohmann::json& config, std::vector<Reading>& out, std::string& error);

// Text helpers.
std::string lower(std::string_view text);
std::string trim(std::string_view text);
std::vector<std::string> split_list(std::string_view text);  // "a, b,c" -> {a, b, c}
// nlohmann's description of a JSON value's type, for "got ...".
std::string json_kind(const nlohmann::json& value);
// Parses without echoing the text (it holds user ids): "not valid JSON (line L, column C)".
// `ended_early` (when given): whether the text ended before the JSON was complete, the mark of
// a value cut short rather than a wrong one.
bool parse_json(std::string_view text, nlohmann::json& out, std::string& error,
                bool* ended_early = nullptr);
// Valid UTF-8 as it is; otherwise each bad byte becomes U+FFFD, so the profile stays valid TOML.
std::string valid_utf8(std::string_view text);
// A value for a message: user IDs hidden, valid UTF-8, control characters as \xNN (no line
// break or terminal escape from the input reaches the terminal), at most 80 bytes of it.
std::string printable(std::string_view text);
// Each UUID in `text` (with or without dashes) as "<UUID hidden>".
std::string hide_user_ids(std::string_view text);

}  // namespace vmlocal::import
