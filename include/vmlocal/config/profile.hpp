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
  bool operator==(const ListenEndpoint&) const = default;
};

// tcp; ws (WebSocket); h2 (v2ray's "http" network: one HTTP/2 stream per tunnel); grpc (the
// "gun" service: HTTP/2 POST /<service_name>/Tun carrying protobuf Hunk messages);
// httpupgrade (an HTTP/1.1 Upgrade, then raw bytes).
enum class Transport : uint8_t { kTcp, kWs, kH2, kGrpc, kHttpUpgrade };

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
  bool operator==(const TlsSettings&) const = default;
};

// [server.ws]: the WebSocket upgrade, used when server.transport = "ws".
struct WsSettings {
  std::string path = "/";
  std::string host;  // Host header; empty: sni, else server.address (with a non-default port)
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  // Early data: up to this many of the first bytes (the VMess header and the app's first
  // bytes) ride in the upgrade request, saving a round trip; 0: off. Needs the server's
  // support (Xray's "?ed=N" path, v2fly's maxEarlyData, sing-box's max_early_data).
  uint32_t max_early_data = 0;
  // The header that carries them; "": appended to the path instead (v2fly's default form).
  std::string early_data_header = "Sec-WebSocket-Protocol";
  bool operator==(const WsSettings&) const = default;
};

// [server.httpupgrade]: the HTTP/1.1 upgrade, used when server.transport = "httpupgrade".
struct HttpUpgradeSettings {
  std::string path = "/";
  std::string host;  // Host header; empty: as for ws (sni, else address, with a non-default port)
  bool operator==(const HttpUpgradeSettings&) const = default;
};

// [server.tcp]: v2ray's tcpSettings.header, used when server.transport = "tcp".
enum class TcpHeader : uint8_t { kNone, kHttp };
struct TcpSettings {
  TcpHeader header = TcpHeader::kNone;
  // header = "http": the request paths and Host values, one of each drawn per connection.
  // Empty: v2ray's defaults ("/"; "www.baidu.com" or "www.bing.com").
  std::vector<std::string> path;
  std::vector<std::string> host;
  bool operator==(const TcpSettings&) const = default;
};

// [server.h2]: v2ray's httpSettings, used when server.transport = "h2" (always over TLS).
struct H2Settings {
  std::string path = "/";
  // :authority of each request, one drawn at random per tunnel as v2ray does; empty: v2ray's
  // default "www.example.com" (its server accepts only that host when none is configured).
  std::vector<std::string> host;
  bool operator==(const H2Settings&) const = default;
};

// [server.grpc]: the gRPC "gun" transport (v2ray >= 4.36, Xray, sing-box), over TLS.
struct GrpcSettings {
  // The request path is /<service_name>/Tun; a name starting with "/" is the whole path
  // (Xray's custom-path form, e.g. "/my/path/Tun"). Required.
  std::string service_name;
  bool operator==(const GrpcSettings&) const = default;
};

// The gRPC request path: "/<service_name>/Tun" (v2fly's and Xray's grpc transport docs), or
// service_name itself when it starts with "/" (Xray's custom path).
std::string grpc_path(const GrpcSettings& grpc);

// [server.mux]: Mux.Cool (docs/vmess-protocol.md §14), many tunnels in one VMess connection.
struct MuxSettings {
  bool enabled = false;
  uint32_t concurrency = 8;  // tunnels per connection at most; a new connection beyond
  bool operator==(const MuxSettings&) const = default;
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
    // The inbound protocols every listen address accepts (picked by the app's first byte).
    struct Protocols {
      bool socks5 = true;
      bool socks4 = true;  // SOCKS4 and 4a
      bool http = true;    // HTTP proxy: CONNECT and plain absolute-form requests
    } protocols;
  } local;

  struct Server {
    // Where the server was written, so that messages name its keys as the user sees them:
    // [server], a [[servers]] entry, or an entry of the [subscription] (its provider's).
    enum class Origin : uint8_t { kServer, kServers, kSubscription };
    Origin origin = Origin::kServer;
    // For logs and counters: [[servers]] name, or "address:port" ("[2001:db8::1]:443").
    std::string name;
    std::string address;  // host name or IP literal
    uint16_t port = 0;
    vmess::Uuid uuid{};
    uint16_t alter_id = 0;
    vmess::Security security = vmess::Security::kAuto;
    Transport transport = Transport::kTcp;
    bool tcp_fast_open = false;      // TCP Fast Open to the server
    std::optional<TlsSettings> tls;  // set: TLS on
    WsSettings ws;
    // Warm connections (outbound/warm_pool.hpp): up to `warm` upstream connections kept with
    // TCP, TLS and the WebSocket upgrade done, so a new tunnel sends its request at once; 0 off.
    // Each is used or replaced within warm_max_age (a server closes a connection that sent no
    // request after its handshake timeout: 4 s as documented, vmess-protocol.md §11), and the
    // pool refills only within warm_idle of the last tunnel.
    uint32_t warm = 1;
    std::chrono::milliseconds warm_max_age{3'000};
    std::chrono::milliseconds warm_idle{60'000};
    H2Settings h2;
    GrpcSettings grpc;
    TcpSettings tcp;
    HttpUpgradeSettings httpupgrade;
    MuxSettings mux;
    // Seconds added to this clock for VMess timestamps; nullopt ("auto", the default): the offset
    // estimated from the server's HTTP Date (the WebSocket upgrade response), applied only when
    // it exceeds 60 s (outbound/server_state.hpp).
    std::optional<int32_t> clock_offset;
    // Equal settings (name included): a reload keeps such a server's state and connections.
    bool operator==(const Server&) const = default;
  };
  // The servers in the order the profile lists them ([server], or [[servers]]); never empty.
  std::vector<Server> servers{Server{}};

  // [balancer]: which server a new tunnel tries first (outbound/balancer.hpp).
  struct Balancer {
    enum class Strategy : uint8_t {
      kFirst,    // the first healthy server in profile order
      kFastest,  // the healthy server with the shortest last probe time
    };
    Strategy strategy = Strategy::kFirst;
    // "fastest" moves to another server only when it is faster by more than this.
    std::chrono::milliseconds tolerance{50};
  } balancer;

  // [probe]: the request the doctor, the fail-fast check and health checks send through a server.
  struct Probe {
    // An HTTP(S) URL answering quickly (a 204 endpoint). url_set says whether the profile named
    // it (then a probe also runs at start). Empty (url = ""): no probes at run time.
    std::string url = "https://www.gstatic.com/generate_204";
    bool url_set = false;
    std::chrono::milliseconds interval{180'000};  // between health checks
    // How long the answer may take once the tunnel is up: no answer by then, while the server
    // keeps the connection open, is a refused request.
    std::chrono::milliseconds timeout{5'000};
  } probe;

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

  // [subscription]: a provider's list of servers (vmess:// links, plain or base64), fetched at
  // start, on SIGHUP and every `interval`; its servers come after the profile's own [server] /
  // [[servers]] (which are optional then). Everything else in the profile applies to them.
  struct Subscription {
    std::string url;  // http:// or https://; empty: no subscription. May hold a token: not logged
    std::chrono::milliseconds interval{3'600'000};
  } subscription;
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

// Whether `server` can carry SOCKS5 UDP: its body has chunks (security "zero" has none, so a
// VMess UDP connection cannot keep datagrams apart, vmess-protocol.md §13), or [server.mux] is
// on (each datagram is a Mux.Cool frame of its own, §14, whatever the security).
bool carries_datagrams(const Profile::Server& server);
// Whether the UDP relay runs: [local] udp, SOCKS5 among [local] protocols, and a server that
// carries_datagrams() (written as udp = true with none, the profile is refused).
bool udp_enabled(const Profile& profile);
// Why udp_enabled() is false ("[local] udp = false", "the server has security \"zero\" without
// [server.mux], ..."), or empty when it is true.
std::string udp_off_reason(const Profile& profile);

// "address:port", with an IPv6 literal in brackets: a server's default name.
std::string default_server_name(const Profile::Server& server);

// How log lines name a server: "\"tokyo\" at 198.51.100.7:443", or "address:port" when it has
// no name of its own.
std::string server_label(const Profile::Server& server);

// "first" / "fastest".
std::string_view strategy_name(Profile::Balancer::Strategy strategy);

// "tcp", "tcp+http", "ws", "httpupgrade", "h2", "grpc", each with "+tls" when TLS is on, for
// logs and --check.
std::string transport_name(const Profile::Server& server);

// Why the listen addresses must not be used as they are — one reachable from other machines
// while there is no username and allow_open_proxy is off — or nullopt. The loader checks the
// profile; main() checks again after --listen overrides.
std::optional<std::string> open_proxy_problem(const Profile& profile);

// "127.0.0.1:1080" / "[::1]:1080" -> endpoint; nullopt-like error string on failure.
std::variant<ListenEndpoint, std::string> parse_listen_endpoint(std::string_view text);

}  // namespace vmlocal::config
