// The import argument's kind: text looks are checked before a path is tried, so that a link
// never reaches "cannot read LINK".
#include "vmlocal/import/argument.hpp"

#include <cctype>

#include "reading.hpp"

namespace vmlocal::import {
namespace {

constexpr size_t kNameMax = 255;   // NAME_MAX: a path component
constexpr size_t kPathMax = 4096;  // PATH_MAX, with its terminating NUL

bool too_long_for_a_path(std::string_view text) {
  if (text.size() >= kPathMax) return true;
  size_t component = 0;
  for (char c : text) {
    component = c == '/' ? 0 : component + 1;
    if (component > kNameMax) return true;
  }
  return false;
}

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// A run of hex digits and dashes that is a UUID, 32 digits without dashes, or what is left of
// either after a cut: 16 digits or more, or 8 digits and a dash (a UUID's first group).
bool might_hold_user_id(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (!is_hex(text[i]) && text[i] != '-') {
      ++i;
      continue;
    }
    const size_t start = i;
    size_t digits = 0;
    while (i < text.size() && (is_hex(text[i]) || text[i] == '-')) {
      digits += is_hex(text[i]) ? 1 : 0;
      ++i;
    }
    const std::string_view run = text.substr(start, i - start);
    const size_t dash = run.find('-');
    if (digits >= 16 || (dash == 8 && run.size() > 9)) return true;
  }
  return false;
}

bool starts_with_scheme(std::string_view text, std::string_view scheme) {
  return lower(text.substr(0, scheme.size())) == scheme;
}

// "https://user:token@host:8443/path?token" -> "https://host:8443".
std::string url_origin(std::string_view url) {
  const size_t start = url.find("://") + 3;
  const std::string_view authority = url.substr(start, url.find_first_of("/?#", start) - start);
  const size_t at = authority.rfind('@');
  const std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
  return printable(lower(url.substr(0, start)) + std::string(host));
}

}  // namespace

Argument classify_argument(std::string_view argument,
                           const std::function<bool(const std::string&)>& names_a_file) {
  if (argument == "-") return {ArgumentKind::kStandardInput, "", "standard input"};
  const std::string trimmed = trim(argument);
  if (starts_with_scheme(trimmed, "http://") || starts_with_scheme(trimmed, "https://")) {
    return {ArgumentKind::kUrl, trimmed, "the subscription at " + url_origin(trimmed)};
  }
  const Argument text{
      ArgumentKind::kText, std::string(argument),
      starts_with_scheme(trimmed, "vmess://") ? "a vmess:// link" : "the text given"};
  if (argument.find("://") != std::string_view::npos) return text;
  const std::string path(argument);
  if (!trimmed.empty() && names_a_file(path)) return {ArgumentKind::kFile, path, path};
  if (!trimmed.empty() && trimmed != path && names_a_file(trimmed)) {
    return {ArgumentKind::kFile, trimmed, trimmed};
  }
  if (trimmed != path || too_long_for_a_path(path) || looks_like_v2rayn_body(trimmed) ||
      looks_like_bare_uri(trimmed)) {
    return text;
  }
  return {ArgumentKind::kFile, path, path};
}

std::string path_for_message(std::string_view path) {
  if (might_hold_user_id(path)) {
    return "the file given (its name looks like it holds a user ID, so it is not shown)";
  }
  std::string out;
  for (char c : valid_utf8(path)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace vmlocal::import
