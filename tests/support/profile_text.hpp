// Profile text for the profile tests: one string per line, so the line numbers a test asserts
// can be read off the list.
#pragma once

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::test {

inline std::string lines(std::initializer_list<std::string_view> list) {
  std::string out;
  for (std::string_view line : list) {
    out += line;
    out += '\n';
  }
  return out;
}

// Lines 1-4 are a valid [server]; `extra` starts on line 5.
inline std::string server_and(std::initializer_list<std::string_view> extra) {
  return lines({
             "[server]",
             R"(address = "vmess.example.org")",
             "port = 443",
             R"(uuid = "b831381d-6324-4d53-ad4f-8cda48b30811")",
         }) +
         lines(extra);
}

// The error parse_profile gives `text` (as "p.toml"); fails the test when it loads.
inline std::string parse_error(const std::string& text) {
  config::ProfileResult result = config::parse_profile(text, "p.toml");
  REQUIRE_FALSE(result.ok());
  return result.error();
}

}  // namespace vmlocal::test
