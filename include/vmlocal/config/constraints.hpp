// Settings of a profile that constrain each other: the one table of them. Each key is checked
// on its own where it is read; a rule here is about two or more keys together, and says what
// happens when the pair cannot work as written: refused (the profile does not load), repaired
// (it loads with the setting changed so that it works, and a warning), or warned about (it
// works, but not as the user probably thinks). The loader applies every rule once the whole
// profile has been read, so `--check`, startup and the unit test all use this table.
//
// Pairs looked at and found to need no rule (each works as written):
// - [server.tls] keys (sni, alpn, insecure, ca_file, pin_sha256) without TLS: impossible,
//   since the [server.tls] table is what switches TLS on.
// - transport = "tcp" + TLS + alpn with "h2": v2ray's tcp+tls inbound may choose h2, but
//   neither side reads the ALPN result on a tcp transport; VMess runs over the TLS bytes as
//   it is (checked against v2ray 4.34 by the transport integration suite).
// - alter_id > 0 (legacy header) x any security, "none" and "zero" included: v2ray 4.34
//   accepts every combination (the variants integration suite runs the whole matrix).
// - security "none"/"zero" + TLS: the intended use of those two (TLS encrypts instead).
// - tcp_fast_open x TLS / ws: the first bytes written (ClientHello, upgrade request or the
//   VMess header) ride on the SYN; nothing depends on which they are.
// - sni x address as an IP literal, sni x ws.host, ws.host x port: independent; ws.host
//   only defaults from sni and the port.
// - h2.host x sni: independent (v2ray's server checks :authority against its host list, the
//   certificate is checked against sni); a host list needs no port.
// - grpc x sni: the :authority is sni (else the address) with the port, as grpc-go sends it;
//   servers do not check it.
// - tcp_fast_open x h2 / grpc: the ClientHello rides on the SYN, as for tcp+tls.
// - timeouts x anything: each timeout bounds its own stage.
// - local.udp x transport / TLS / alter_id: UDP rides a VMess tunnel like TCP does (Cmd 2,
//   packet chunks, vmess-protocol.md §13); only the unchunked "zero" body cannot carry it.
// - warm x tcp_fast_open: a warm plain-tcp connection sends its SYN only with the request
//   (TCP_FASTOPEN_CONNECT), so it saves nothing there but costs nothing; over TLS or ws the
//   ClientHello or upgrade carries the SYN while the connection waits. Works either way.
// - warm_max_age x the server's handshake timeout: the server's is not in the profile (4 s as
//   documented, 60 s in v2ray 4.34's default); the 3 s default suits both, and a larger value
//   only means a warm connection may be closed by the server and replaced unseen.
// - warm x [server.mux] / ws.max_early_data: no pool is made for that server (its Mux.Cool
//   connections are long-lived already; with early data the upgrade waits for the app's
//   first bytes). warm then simply has no effect, as example.toml says; not worth a warning
//   since warm = 1 is the default.
// - ws.max_early_data x tcp_fast_open: both move bytes earlier; together the VMess header
//   rides in the upgrade request, which rides on the SYN. Nothing depends on the order.
// - ws.max_early_data x TLS: the early data travels inside TLS like the rest of the upgrade.
// - transport "httpupgrade" shares ws's rule (ws-alpn-http11): ALPN exactly "http/1.1".
// - tcp.header = "http" x TLS: the heads travel inside TLS; x tcp_fast_open: the request head
//   rides on the SYN with the VMess header. No rule needed.
// Settings this build does not have, and the rules they would bring (comments only):
// - transport "httpupgrade": like ws, an HTTP/1.1 request: ALPN exactly "http/1.1".
// - WebSocket early data (path "?ed=2048" in Xray links): today the path is sent as written
//   and the server ignores the query; with early data, ed x tcp_fast_open would overlap.
// - transport "h2" / "grpc": need ALPN "h2" and TLS.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::config {

// The dotted names of the keys and tables a profile file wrote ("server.ws",
// "server.tls.alpn"), for rules about a table's presence rather than its values.
struct WrittenKeys {
  std::vector<std::string> keys;
  bool has(std::string_view dotted) const;
};

enum class Verdict : uint8_t {
  kRefuse,  // the profile does not load: "file:line:column: reason; fix"
  kRepair,  // it loads, changed by repair() so that it works, with a warning
  kWarn,    // it loads unchanged, with a warning
};

std::string_view verdict_name(Verdict verdict);  // "refuse", "repair", "warn"

struct Constraint {
  std::string_view id;        // stable name, for tests and the table in the docs
  std::string_view settings;  // the keys involved, as a user reads them
  // Where the message points: the first of these keys the file wrote.
  std::array<std::string_view, 2> at;
  Verdict verdict;
  // True when the profile breaks the rule.
  bool (*breaks)(const Profile& profile, const WrittenKeys& written);
  // What is wrong with this profile (only called when breaks() is true).
  std::string (*reason)(const Profile& profile);
  std::string_view fix;  // what to write instead; the message is "reason; fix"
  // kRepair only: changes the profile so that breaks() is false.
  void (*repair)(Profile& profile);
};

// Every rule, in the order the loader applies them.
std::span<const Constraint> constraints();

struct Finding {
  const Constraint* rule;
  std::string message;  // "reason; fix", without a position
  // For a rule about a server: the index of the server in profile.servers.
  std::optional<size_t> server;
};

// The rules `profile` breaks, repairing it on the way (so a later rule sees the repaired
// profile). The loader adds the position of each finding's key.
//
// Several servers: a rule whose `at` keys are under "server." is about one server; it is
// applied to each server on its own, seeing a profile whose `servers` holds only that one, so
// every rule is written for one server (p.servers.front()). `written` then holds one entry per
// server: the keys written for it, spelt "server.*" whether they came from [server] or from a
// [[servers]] entry, plus every key outside it.
std::vector<Finding> apply_constraints(Profile& profile, const WrittenKeys& written);
std::vector<Finding> apply_constraints(Profile& profile, std::span<const WrittenKeys> written);

}  // namespace vmlocal::config
