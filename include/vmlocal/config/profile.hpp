// The TOML profile: how to listen and where to go. Parsing from a string is the primitive;
// loading a file is a thin wrapper. Every error is "path:line:column: what is wrong".
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "vmlocal/log/log.hpp"
#include "vmlocal/route/rules.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/security.hpp"

namespace vmlocal::config {

// A numeric listen address: "127.0.0.1:1080" or "[::1]:1080".
struct ListenEndpoint {
  std::string host;  // IP literal without brackets
  uint16_t port = 0;
  bool is_loopback() const;
  std::string to_string() const;  // as written in a profile
};

enum class Transport : uint8_t { kTcp, kWs };

// [server.tls]: present means TLS to the server (tcp + tls, or ws + tls = wss).
struct TlsSettings {
  std::string sni;  // empty: server.address when it is a host name (no SNI for an IP)
  // ALPN protocols offered over tcp; nullopt: none. Under ws exactly "http/1.1" is offered (the
  // loader repairs any other list, with a warning).
  std::optional<std::vector<std::string>> alpn;
  bool insecure = false;  // skip certificate verification (warned about at start)
  std::string ca_file;    // PEM CA certificates to trust instead of the system store
  // SHA-256 of the server's SubjectPublicKeyInfo: a matching key is trusted on its own.
  std::vector<std::array<uint8_t, 32>> pin_sha256;
};

// [server.ws]: the WebSocket upgrade, used when server.transport = "ws".
struct WsSettings {
  std::string path = "/";
  std::string host;  // Host header; empty: sni, else server.address (with a non-default port)
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
};

struct Profile {
  struct Local {
    std::vector<ListenEndpoint> listen;  // default: 127.0.0.1:1080
    // RFC 1929 username/password the apps must present; both empty: no authentication.
    std::string username;
    std::string password;  // secret: never logged or echoed
    // Listening beyond loopback without a username is refused unless this is set.
    bool allow_open_proxy = false;
    // Most tunnels open at once; 0: only the file descriptor limit applies.
    uint32_t max_connections = 0;
    // Event-loop threads, each accepting on the same ports (SO_REUSEPORT).
    uint32_t workers = 1;
    // SOCKS5 UDP ASSOCIATE (RFC 1928 §7) over VMess: a UDP relay on each listen address.
    bool udp = true;
    // A destination of an association with no datagram either way for this long is closed
    // (its VMess tunnel ends); the association itself lives as long as its TCP connection.
    std::chrono::milliseconds udp_idle_timeout{60'000};
    // Per association: destinations (one VMess tunnel each) open at once, and datagrams waiting
    // for their tunnel to connect or drain. Beyond either, datagrams are dropped and counted.
    uint32_t udp_max_destinations = 64;
    uint32_t udp_max_queued = 256;
  } local;

  struct Server {
    std::string address;  // host name or IP literal
    uint16_t port = 0;
    vmess::Uuid uuid{};
    uint16_t alter_id = 0;
    vmess::Security security = vmess::Security::kAuto;
    Transport transport = Transport::kTcp;
    bool tcp_fast_open = false;      // TCP Fast Open to the server
    std::optional<TlsSettings> tls;  // set: TLS on
    WsSettings ws;
  } server;

  struct Timeouts {
    std::chrono::milliseconds handshake{10'000};  // SOCKS greeting + request from the app
    std::chrono::milliseconds connect{10'000};    // upstream resolve + connect
    std::chrono::milliseconds idle{300'000};      // no bytes either way
    // Once one direction has ended, how long the other may stay quiet (v2ray's policy
    // uplinkOnly / downlinkOnly, 1 s each in 4.34's built-in policy): uplink_only after the
    // downlink ended, downlink_only after the uplink ended. Servers that never pass END on
    // (sing-box's) would otherwise keep a finished tunnel open for the whole idle timeout.
    std::chrono::milliseconds uplink_only{1'000};
    std::chrono::milliseconds downlink_only{1'000};
    // On SIGINT/SIGTERM: how long live tunnels may go on before they are closed.
    std::chrono::milliseconds shutdown_grace{0};
  } timeouts;

  // [route]: which targets skip the server (route/rules.hpp). The default sends private targets
  // (loopback, LAN, link-local, `localhost`, `.local`) direct.
  route::Rules route;

  struct Log {
    log::Level level = log::Level::kInfo;
  } log;
};

struct ProfileResult {
  std::variant<Profile, std::string> value;  // the profile, or one "path:line:column: message"
  std::vector<std::string> warnings;         // e.g. the file is readable by other users

  bool ok() const { return value.index() == 0; }
  const Profile& profile() const { return std::get<Profile>(value); }
  const std::string& error() const { return std::get<std::string>(value); }
};

// `source_path` names the text in error messages.
ProfileResult parse_profile(std::string_view text, std::string_view source_path);
// Reads and parses a file; adds a warning when it is readable by group or others.
ProfileResult load_profile(const std::string& path);

// Whether the UDP relay runs: [local] udp, and a body that can carry datagrams (security "zero"
// has no chunks, vmess-protocol.md §13; written as udp = true with it, the profile is refused).
bool udp_enabled(const Profile& profile);

// "tcp", "ws", "tcp+tls" or "ws+tls", for logs and --check.
std::string transport_name(const Profile::Server& server);

// Why the listen addresses must not be used as they are — one reachable from other machines
// while there is no username and allow_open_proxy is off — or nullopt. The loader checks the
// profile; main() checks again after --listen overrides.
std::optional<std::string> open_proxy_problem(const Profile& profile);

// "127.0.0.1:1080" / "[::1]:1080" -> endpoint; nullopt-like error string on failure.
std::variant<ListenEndpoint, std::string> parse_listen_endpoint(std::string_view text);

}  // namespace vmlocal::config
