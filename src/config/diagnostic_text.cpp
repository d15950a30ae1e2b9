#include "diagnostic_text.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "vmlocal/vmess/account.hpp"

namespace vmlocal::config {
namespace {

// Long enough for any sensible value, short enough that pasting a whole share link or a
// certificate into a field does not flood the terminal.
constexpr size_t kMaxQuoted = 64;

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, because
// swapped letters ("tpc") are the most common typo after a dropped one ("securty").
size_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j)
    prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

bool is_prefix_ignoring_case(std::string_view prefix, std::string_view word) {
  if (prefix.size() > word.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (lower(prefix[i]) != lower(word[i])) return false;
  }
  return true;
}

}  // namespace

std::string redact_uuids(std::string_view text) {
  constexpr size_t kUuidText = 36;  // 8-4-4-4-12
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.size() - i >= kUuidText && vmess::parse_uuid(text.substr(i, kUuidText))) {
      out += "<UUID hidden>";
      i += kUuidText;
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string quote(std::string_view text) {
  const std::string redacted = redact_uuids(text);
  std::string out = "\"";
  size_t shown = 0;
  for (char c : redacted) {
    const auto byte = static_cast<unsigned char>(c);
    // Count characters, not bytes, so the cut never splits a UTF-8 sequence.
    const bool continuation = (byte & 0xC0) == 0x80;
    if (!continuation) {
      if (shown == kMaxQuoted) {
        out += "...";
        break;
      }
      ++shown;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04X", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string_view closest_match(std::string_view word,
                               std::span<const std::string_view> candidates) {
  // Short words tolerate one edit, longer ones two: "prt" -> "port", but "id" must not
  // become "ws".
  const size_t max_distance = word.size() >= 5 ? 2 : 1;
  std::string_view best;
  size_t best_distance = max_distance + 1;
  for (std::string_view candidate : candidates) {
    size_t d = edit_distance(word, candidate);
    if (d > max_distance && std::min(word.size(), candidate.size()) >= 3 &&
        (is_prefix_ignoring_case(word, candidate) || is_prefix_ignoring_case(candidate, word))) {
      d = max_distance;
    }
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

std::string shell_quote(std::string_view path) {
  const bool plain = !path.empty() && std::all_of(path.begin(), path.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '.' || c == '_' || c == '-' || c == '+' || c == ',' || c == ':' || c == '@' ||
           c == '%';
  });
  if (plain) return std::string(path);
  std::string out = "'";
  for (char c : path) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

}  // namespace vmlocal::config
