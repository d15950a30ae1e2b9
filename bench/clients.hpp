// The clients under test, each a fresh process with a config written for one cipher:
// vmess-local with a TOML profile, and Debian's v2ray 4.34 used as a client (a "socks" inbound
// and a "vmess" outbound). With --baseline, a second vmess-local binary (the old build) runs
// with the same profile. All point at a v2ray server and log warnings only.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "harness/endpoint.hpp"
#include "harness/process.hpp"
#include "harness/temp_dir.hpp"
#include "harness/v2ray_server.hpp"
#include "harness/vmess_local.hpp"

namespace vmlocal::bench {

// kBaseline is vmess-local too, only another binary: the build the new one is compared with.
enum class ClientKind { kVmessLocal, kV2ray, kBaseline };

const char* client_name(ClientKind kind);  // "vmess-local", "v2ray", "baseline"

struct ClientPaths {
  std::filesystem::path vmess_local;
  std::filesystem::path v2ray;
  std::filesystem::path baseline;  // empty without --baseline
};

class ClientUnderTest {
 public:
  // Starts the client and waits until its SOCKS5 port accepts connections.
  ClientUnderTest(ClientKind kind, const std::string& security, const itest::V2rayServer& server,
                  itest::TempDir& dir, const ClientPaths& paths);

  ClientKind kind() const { return kind_; }
  pid_t pid() const { return pid_; }
  const itest::Endpoint& socks() const { return socks_; }
  // Throws with the client's log if it has exited: a crash must not pass as a slow client.
  void check_alive();
  void stop();  // SIGTERM, then SIGKILL after 10 s

 private:
  itest::Process& process();

  ClientKind kind_;
  pid_t pid_ = -1;
  itest::Endpoint socks_;
  std::optional<itest::VmessLocal> vmess_local_;
  std::optional<itest::Process> v2ray_;
};

}  // namespace vmlocal::bench
