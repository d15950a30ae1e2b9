#include "vmlocal/log/log.hpp"

#include <sys/time.h>

#include <algorithm>
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

namespace {

// The length of the valid UTF-8 sequence (RFC 3629 §4) at `at`, or 0.
size_t utf8_length(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char c = byte(at);
  size_t n = 0;
  unsigned char low = 0x80, high = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) low = 0xa0;   // no overlong forms
    if (c == 0xed) high = 0x9f;  // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) low = 0x90;
    if (c == 0xf4) high = 0x8f;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (at + n > text.size() || byte(at + 1) < low || byte(at + 1) > high) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (byte(at + i) < 0x80 || byte(at + i) > 0xbf) return 0;
  }
  return n;
}

}  // namespace

std::string printable(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (size_t i = 0; i < message.size();) {
    const auto c = static_cast<unsigned char>(message[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (const size_t n = c >= 0x80 ? utf8_length(message, i) : 0; n > 0) {
      out.append(message.substr(i, n));
      i += n;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out.append("\\x").push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
      ++i;
    }
  }
  return out;
}

void write(Level level, std::string_view message) {
  // The common line is plain ASCII: no copy then.
  std::string cleaned;
  if (!std::all_of(message.begin(), message.end(), [](char ch) {
        return static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f;
      })) {
    cleaned = printable(message);
    message = cleaned;
  }
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
