#include "vmlocal/log/log.hpp"

#include <sys/time.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace vmlocal::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_sink_mutex;
Sink g_sink;  // guarded by g_sink_mutex; empty means the stderr default
thread_local std::string t_tag;

void write_stderr(Level level, std::string_view message) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm utc{};
  gmtime_r(&tv.tv_sec, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string_view name = level_name(level);
  std::fprintf(stderr, "%s.%03dZ %-5.*s %.*s\n", stamp, static_cast<int>(tv.tv_usec / 1000),
               static_cast<int>(name.size()), name.data(), static_cast<int>(message.size()),
               message.data());
}

}  // namespace

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kError:
      return "ERROR";
    case Level::kWarn:
      return "WARN";
    case Level::kInfo:
      return "INFO";
    case Level::kDebug:
      return "DEBUG";
  }
  return "?";
}

std::optional<Level> parse_level(std::string_view name) {
  if (name == "error") return Level::kError;
  if (name == "warn") return Level::kWarn;
  if (name == "info") return Level::kInfo;
  if (name == "debug") return Level::kDebug;
  return std::nullopt;
}

void set_level(Level level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

Level level() {
  return static_cast<Level>(g_level.load(std::memory_order_relaxed));
}

void set_sink(Sink sink) {
  std::lock_guard lock(g_sink_mutex);
  g_sink = std::move(sink);
}

void set_thread_tag(std::string tag) {
  t_tag = std::move(tag);
}

void write(Level level, std::string_view message) {
  std::string tagged;
  if (!t_tag.empty()) {
    tagged = "[" + t_tag + "] ";
    tagged += message;
    message = tagged;
  }
  std::lock_guard lock(g_sink_mutex);
  if (g_sink) {
    g_sink(level, message);
  } else {
    write_stderr(level, message);
  }
}

}  // namespace vmlocal::log
