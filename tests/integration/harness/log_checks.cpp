#include "harness/log_checks.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>

namespace vmlocal::itest {

using namespace std::chrono_literals;

size_t count_of(std::string_view text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

std::optional<uint64_t> tunnels_total(VmessLocal& local, const std::string& server,
                                      Deadline deadline) {
  const std::string prefix = "server \"" + server + "\": ";
  const size_t before = count_of(local.log_text(), prefix);
  local.process().signal(SIGUSR1);
  while (count_of(local.log_text(), prefix) == before) {
    if (deadline.expired()) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
  const std::string log = local.log_text();
  const std::regex line("server \"" + server + "\": [^;]*; tunnels ([0-9]+) open, ([0-9]+) total");
  std::optional<uint64_t> last;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it) {
    last = std::stoull((*it)[2].str());
  }
  return last;
}

void write_profile(const VmessLocal& local, const std::string& text) {
  const auto tmp = local.profile_path().string() + ".new";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::permissions(
      tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::rename(tmp, local.profile_path());
}

bool reload(VmessLocal& local, const std::string& text, Deadline deadline, size_t reloaded_lines) {
  const std::string before = local.log_text();
  const size_t ok_before = count_of(before, "profile reloaded: ");
  const size_t refused_before = count_of(before, "reload refused");
  write_profile(local, text);
  local.process().signal(SIGHUP);
  while (!deadline.expired()) {
    const std::string log = local.log_text();
    if (count_of(log, "reload refused") > refused_before) return false;
    if (count_of(log, "profile reloaded: ") >= ok_before + reloaded_lines) return true;
    std::this_thread::sleep_for(10ms);
  }
  throw std::runtime_error("no reload outcome logged:\n" + local.log_text());
}

}  // namespace vmlocal::itest
