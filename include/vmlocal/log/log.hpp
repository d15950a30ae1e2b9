// Process-wide logging with a level and a replaceable sink (tests capture lines through it).
// Nothing that logs may pass a UUID, key, IV or other secret: there is no "redact" here.
#pragma once

#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace vmlocal::log {

enum class Level : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

std::string_view level_name(Level level);
std::optional<Level> parse_level(std::string_view name);

void set_level(Level level);
Level level();
inline bool enabled(Level l) {
  return static_cast<int>(l) <= static_cast<int>(level());
}

// The sink receives one formatted message without a trailing newline. The default sink writes
// "2026-11-28T06:05:04.123Z INFO message\n" to stderr. Pass nullptr to restore the default.
using Sink = std::function<void(Level, std::string_view message)>;
void set_sink(Sink sink);

// `message` may quote what an app or a server sent (a SOCKS5 domain is any 1..255 bytes): a
// control character or a byte that is not part of valid UTF-8 is written as \xNN, so a line is
// one line of valid UTF-8 (no forged lines, no broken log viewers). Valid UTF-8 (a server named
// in Chinese) stays as it is.
void write(Level level, std::string_view message);
// What write() does to `message`, for tests.
std::string printable(std::string_view message);

// A short name for the calling thread ("w2"), shown before its messages; empty: none.
void set_thread_tag(std::string tag);

template <typename... Args>
void emit(Level l, const Args&... args) {
  if (!enabled(l)) return;
  std::ostringstream out;
  (out << ... << args);
  write(l, out.str());
}

template <typename... Args>
void error(const Args&... args) {
  emit(Level::kError, args...);
}
template <typename... Args>
void warn(const Args&... args) {
  emit(Level::kWarn, args...);
}
template <typename... Args>
void info(const Args&... args) {
  emit(Level::kInfo, args...);
}
template <typename... Args>
void debug(const Args&... args) {
  emit(Level::kDebug, args...);
}

}  // namespace vmlocal::log
