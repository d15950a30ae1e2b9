#include "invocation.hpp"

namespace vmlocal::cli {
namespace {

std::string& invocation() {
  static std::string argv0;
  return argv0;
}

}  // namespace

void remember_invocation(const char* argv0) {
  invocation() = argv0 == nullptr ? "" : argv0;
}

std::string invoked_as() {
  const std::string& argv0 = invocation();
  return argv0.find('/') == std::string::npos ? "vmess-local" : shell_word(argv0);
}

std::string shell_word(const std::string& text) {
  bool safe = !text.empty();
  for (char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '/' || c == '.' || c == '_' || c == '-' || c == '+' || c == ',' ||
                       c == ':' || c == '@' || c == '%';
    safe = safe && plain;
  }
  if (safe) return text;
  std::string out = "'";
  for (char c : text)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace vmlocal::cli
