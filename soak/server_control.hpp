// The real v2ray server of the soak, killed and restarted on the same port with the same
// config (so vmess-local, which is never told, reconnects to it). Every kill is recorded with
// the moment the signal went and the moment the server accepted again: main.cpp explains
// tunnel failures with them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <vector>

#include "harness/process.hpp"
#include "harness/temp_dir.hpp"
#include "harness/v2ray_server.hpp"

namespace vmlocal::soak {

struct KillRecord {
  int signal = 0;
  std::chrono::steady_clock::time_point killed{};
  std::chrono::steady_clock::time_point up{};  // accepting again
  std::chrono::system_clock::time_point killed_wall{};
  std::chrono::system_clock::time_point up_wall{};
};

class ServerControl {
 public:
  // Starts the first server: VMess inbound, fresh UUID, v2ray log at `log_level`.
  ServerControl(itest::TempDir& dir, itest::V2rayOptions options);

  const itest::V2rayServer& first() const { return first_; }  // endpoint, UUID
  pid_t pid();
  bool alive();
  // Sends `signal` (SIGKILL, or SIGTERM with a SIGKILL after 5 s), waits `downtime`, starts a
  // new server on the same port and waits until it accepts. Throws if it cannot.
  void kill_and_restart(int signal, std::chrono::milliseconds downtime);
  void stop();

  const std::vector<KillRecord>& kills() const { return kills_; }
  // Every server life's log, the first one first.
  std::vector<std::filesystem::path> logs() const;

 private:
  itest::Process& current();

  itest::TempDir& dir_;
  itest::V2rayServer first_;
  std::filesystem::path first_log_;
  std::optional<itest::Process> restarted_;
  std::vector<std::filesystem::path> restart_logs_;
  std::vector<KillRecord> kills_;
};

}  // namespace vmlocal::soak
