#include "harness/machine_info.hpp"

#include <chrono>
#include <ctime>
#include <fstream>

#include "harness/deadline.hpp"
#include "harness/process.hpp"

namespace vmlocal::itest {

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  return text;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

std::string first_line_of(const std::vector<std::string>& command) {
  auto result = run_command(command, Deadline::after(std::chrono::seconds(10)));
  std::string text = result.out.empty() ? result.err : result.out;
  return text.substr(0, text.find('\n'));
}

}  // namespace vmlocal::itest
