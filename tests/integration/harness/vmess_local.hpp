// Starts the vmess-local binary under test with a TOML profile written into the test's
// directory, and waits until its SOCKS5 port(s) accept connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/deadline.hpp"
#include "harness/endpoint.hpp"
#include "harness/process.hpp"
#include "harness/socks5_client.hpp"
#include "harness/temp_dir.hpp"

namespace vmlocal::itest {

class V2rayServer;

// The fields of a profile (see docs/design.md, "Profile"). Timeouts are written in seconds,
// as integers when whole, else with a fractional part.
struct VmessLocalProfile {
  std::vector<Endpoint> listen;                  // empty: one kernel-chosen port on 127.0.0.1
  std::optional<Socks5Credentials> credentials;  // [local] username/password
  bool allow_open_proxy = false;                 // [local] allow_open_proxy
  std::uint32_t max_connections = 0;             // [local] max_connections; 0: not written
  std::uint32_t workers = 1;                     // [local] workers
  std::vector<std::string> protocols;            // [local] protocols; empty: not written

  std::string server_address = "127.0.0.1";
  std::uint16_t server_port = 0;
  std::string uuid;
  std::uint16_t alter_id = 0;
  std::string security = "aes-128-gcm";
  std::string transport = "tcp";
  bool tcp_fast_open = false;  // [server] tcp_fast_open
  // [server] warm and warm_max_age; not written when unset (the defaults: 1 and 3 s).
  std::optional<std::uint32_t> warm;
  std::optional<std::chrono::milliseconds> warm_max_age;

  // More servers: with any, the profile is written with [[servers]] — the server above first
  // (named `server_name` when set), then these, in order.
  struct Server {
    std::string name;  // empty: the default ("address:port")
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;
    std::string uuid;
    std::string security = "aes-128-gcm";
    bool mux = false;  // [servers.mux] enabled = true
    static Server for_server(const V2rayServer& server, std::string name = {});
  };
  std::string server_name;  // [server] name; empty: not written
  // [server.mux] enabled = true ([servers.mux] with more_servers) for the server above; a test
  // that needs other [server.mux] keys writes the table in extra_toml instead.
  bool mux = false;
  std::vector<Server> more_servers;

  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds idle_timeout{300'000};
  std::chrono::milliseconds shutdown_grace{0};  // [timeouts] shutdown_grace

  // [route] private: the harness's origins are on loopback, which the default ("direct") would
  // reach without the server. Empty: no [route] table (the product's default).
  std::string route_private = "proxy";

  std::string log_level = "info";
  // [probe] url; empty: url = "" (no probes: a test never sends the default probe URL, and
  // probes would add connections a test may count).
  std::string probe_url;
  std::string probe_timeout = "2";
  std::string probe_interval;  // [probe] interval in seconds; empty: not written
  // [server] clock_offset as written ("0", "\"auto\""); empty: not written (the product's
  // "auto", which sends a plain request to a ws server's port at start: a connection tests
  // that count them would see). Default "0": this machine's clock is right.
  std::string clock_offset = "0";
  std::string extra_toml;        // appended verbatim (new tables only: it lands after [log])
  std::string extra_local_toml;  // lines added to [local] (e.g. the udp keys)

  // Address, port, UUID and alterId of a running V2rayServer's VMess inbound.
  static VmessLocalProfile for_server(const V2rayServer& server);
  std::string to_toml() const;
};

struct VmessLocalOptions {
  std::vector<std::string> leading_args;  // before "-c FILE": a subcommand, e.g. {"doctor"}
  std::vector<std::string> extra_args;    // after "-c FILE"
  EnvVars env;                            // added to the test's environment
  std::filesystem::path binary;           // empty: vmess_local_binary()
  std::chrono::milliseconds start_timeout{10'000};
  // Set: vmess-local runs in a private mount namespace (`unshare -m`, so root, which CI is)
  // where this text is /etc/hosts and /etc/resolv.conf names a closed port on 127.0.0.1, so
  // every name it resolves is answered by the test and no DNS query leaves the machine.
  std::optional<std::string> hosts;
};

class VmessLocal {
 public:
  // Writes the profile (ports chosen now if `listen` is empty), starts `vmess-local -c FILE`
  // and waits until every listen endpoint accepts TCP (one probe connection each, closed at
  // once: expect it in the log). Throws with the log if the process exits or the start
  // timeout passes first.
  VmessLocal(TempDir& dir, VmessLocalProfile profile, const VmessLocalOptions& options = {});

  const VmessLocalProfile& profile() const { return profile_; }
  const std::vector<Endpoint>& listen() const { return profile_.listen; }
  const Endpoint& socks_endpoint() const { return profile_.listen.front(); }
  // A client for the first listen endpoint, with the profile's credentials.
  Socks5Client socks_client() const;
  // A tunnel to `target` through socks_client(); throws with the SOCKS5 result and the log
  // unless it opened (a test that expects a refusal uses socks_client() itself).
  Socket open(const Socks5Target& target, Deadline deadline) const;

  Process& process() { return *process_; }
  std::string log_text() const { return process_->log_text(); }
  bool wait_for_log(std::string_view needle, Deadline deadline) const {
    return process_->wait_for_log(needle, deadline);
  }
  const std::filesystem::path& profile_path() const { return profile_path_; }

 private:
  VmessLocalProfile profile_;
  std::filesystem::path profile_path_;
  std::optional<Process> process_;
};

// $VMESS_LOCAL_BIN (set by meson for the integration tests); throws if unset or not executable.
std::filesystem::path vmess_local_binary();

// Starts vmess-local with `profile_text` as its profile and does not wait for anything: for
// tests of start-up failures (bad profiles, flags). Files go to dir/<stem>.toml and .log.
Process launch_vmess_local(TempDir& dir, std::string_view profile_text,
                           const VmessLocalOptions& options = {},
                           std::string_view stem = "vmess-local");

}  // namespace vmlocal::itest
