// log::write keeps each line one line of valid UTF-8 whatever a message quotes (log/log.hpp).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "vmlocal/log/log.hpp"

using vmlocal::log::printable;

TEST_CASE("log: control characters and broken UTF-8 become \\xNN, valid UTF-8 stays") {
  CHECK(printable("tunnel -> example.org:443") == "tunnel -> example.org:443");
  // A SOCKS5 domain may be any bytes: no forged second line, no raw escape sequence.
  CHECK(printable("-> evil\nINFO forged:80") == "-> evil\\x0aINFO forged:80");
  CHECK(printable("a\x1b[31mred\x7f") == "a\\x1b[31mred\\x7f");
  CHECK(printable(std::string("nul\0x", 5)) == "nul\\x00x");
  // Valid UTF-8 (a server named in Chinese, an IDN) is kept.
  CHECK(printable("server \"香港 01\"") == "server \"香港 01\"");
  CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");
  // Not UTF-8: a lone continuation byte, a truncated sequence, an overlong form, a surrogate,
  // past U+10FFFF, Latin-1.
  CHECK(printable("\x80") == "\\x80");
  CHECK(printable("\xe4\xb8") == "\\xe4\\xb8");
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");
  CHECK(printable("caf\xe9!") == "caf\\xe9!");
}

TEST_CASE("log: write hands the sink the printable line") {
  std::vector<std::string> lines;
  vmlocal::log::set_sink(
      [&](vmlocal::log::Level, std::string_view line) { lines.emplace_back(line); });
  vmlocal::log::write(vmlocal::log::Level::kError, "-> bad\r\nname");
  vmlocal::log::set_sink(nullptr);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "-> bad\\x0d\\x0aname");
}
