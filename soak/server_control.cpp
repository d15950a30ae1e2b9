#include "server_control.hpp"

#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>

#include "harness/ports.hpp"

namespace vmlocal::soak {
namespace {

using namespace std::chrono_literals;

// The port is ours only while a server holds it: another program could take it during the
// downtime. Retried a few times before the run gives up.
constexpr int kRestartAttempts = 5;

}  // namespace

ServerControl::ServerControl(itest::TempDir& dir, itest::V2rayOptions options)
    : dir_(dir),
      first_(itest::V2rayServer::vmess(dir, {}, options)),
      first_log_(first_.process().log_path()) {}

itest::Process& ServerControl::current() {
  return restarted_ ? *restarted_ : first_.process();
}

pid_t ServerControl::pid() {
  return current().pid();
}

bool ServerControl::alive() {
  return current().alive();
}

void ServerControl::kill_and_restart(int signal, std::chrono::milliseconds downtime) {
  KillRecord record;
  record.signal = signal;
  itest::Process& old = current();
  record.killed = std::chrono::steady_clock::now();
  record.killed_wall = std::chrono::system_clock::now();
  old.signal(signal);
  if (!old.wait_exit(itest::Deadline::after(5s))) {
    old.signal(SIGKILL);
    old.wait_exit(itest::Deadline::after(5s));
  }
  std::this_thread::sleep_for(downtime);

  const auto binary = itest::v2ray_binary();
  for (int attempt = 1;; ++attempt) {
    const auto log = dir_.file("v2ray-restart-" + std::to_string(kills_.size() + 1) + "-" +
                               std::to_string(attempt) + ".log");
    restarted_.reset();
    restarted_.emplace(
        std::vector<std::string>{binary.string(), "-config", first_.config_path().string()}, log);
    restart_logs_.push_back(log);
    try {
      const auto deadline = itest::Deadline::after(15s);
      // "started" comes once every inbound is bound; a probe alone could reach a stranger.
      if (!restarted_->wait_for_log("started", deadline)) {
        throw std::runtime_error("v2ray did not start again:\n" + restarted_->describe_with_log());
      }
      itest::wait_until_accepting(first_.endpoint(), *restarted_, deadline);
      break;
    } catch (const std::runtime_error&) {
      const bool port_taken =
          !restarted_->alive() &&
          restarted_->log_text().find("address already in use") != std::string::npos;
      if (!port_taken || attempt == kRestartAttempts) throw;
      std::this_thread::sleep_for(500ms);
    }
  }
  record.up = std::chrono::steady_clock::now();
  record.up_wall = std::chrono::system_clock::now();
  kills_.push_back(record);
}

void ServerControl::stop() {
  current().terminate(itest::Deadline::after(10s));
}

std::vector<std::filesystem::path> ServerControl::logs() const {
  std::vector<std::filesystem::path> all{first_log_};
  all.insert(all.end(), restart_logs_.begin(), restart_logs_.end());
  return all;
}

}  // namespace vmlocal::soak
