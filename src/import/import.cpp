// What kind of text was given, and each server checked by the profile loader before it is
// written.
#include "vmlocal/import/import.hpp"

#include <set>

#include "reading.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/base64.hpp"

namespace vmlocal::import {
namespace {

using namespace std::string_view_literals;

std::string label(const Reading& reading) {
  std::string out = reading.where;
  if (!reading.server.name.empty()) out += " (\"" + printable(reading.server.name) + "\")";
  return out;
}

// The server alone as a profile, through the loader: what import writes must load, and the
// loader's message (address, path, ...) is the one the user would get later anyway.
void check_with_loader(Reading& reading) {
  const std::string text = to_toml({reading.server}, {});
  const config::ProfileResult loaded = config::parse_profile(text, "imported");
  if (!loaded.ok()) {
    // "imported:LINE:COLUMN: message": the position is in text the user never saw.
    std::string message = loaded.error();
    for (int colons = 0; colons < 3 && !message.empty(); ++colons)
      message.erase(0, message.find(':') + 1);
    reading.fail(trim(message.substr(0, message.find('\n'))));
  }
}

void read_link(std::string_view line, Reading& reading) {
  std::string_view body = line.substr("vmess://"sv.size());
  // UUID@HOST:PORT has an '@' before any '?' or '#'; base64 never has one.
  const std::string_view authority = body.substr(0, body.find_first_of("?#"));
  if (authority.find('@') != std::string_view::npos) {
    read_uri_link(body, reading);
  } else {
    read_v2rayn_link(body, reading);
  }
}

// One link per line; blank lines skipped; a link of another protocol is an error of its own.
void read_links(std::string_view text, std::vector<Reading>& out) {
  size_t number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.empty()) continue;
    ++number;
    Reading reading;
    reading.where = "link " + std::to_string(number);
    if (lower(line.substr(0, 8)) == "vmess://") {
      read_link(line, reading);
    } else if (const size_t scheme = line.find("://"); scheme != std::string::npos && scheme < 16) {
      reading.fail("a " + printable(line.substr(0, scheme)) +
                   ":// link, not VMess: vmess-local speaks VMess only");
    } else {
      reading.fail("not a vmess:// link");
    }
    out.push_back(std::move(reading));
  }
}

// Every message is one line of text whatever the input held (the loader's messages quote
// values their own way): a last guard against line breaks and terminal escapes.
std::string one_line(std::string text) {
  std::string message = hide_user_ids(text);
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return message;
}

bool has_scheme_line(std::string_view text) {
  return text.find("://") != std::string_view::npos;
}

}  // namespace

bool looks_like_bare_uri(std::string_view text) {
  const std::string_view authority = text.substr(0, text.find_first_of("?#"));
  if (authority.find_first_of("/ \t\n") != std::string_view::npos) return false;
  const size_t at = authority.rfind('@');
  const size_t colon = authority.rfind(':');
  return at != 0 && at != std::string_view::npos && colon != std::string_view::npos &&
         colon > at + 1 && colon + 1 < authority.size() &&
         authority.find_first_not_of("0123456789", colon + 1) == std::string_view::npos;
}

ImportResult import_text(std::string_view input) {
  ImportResult result;
  std::string text = trim(input);
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // a UTF-8 BOM from Windows editors
  std::vector<Reading> readings;
  if (text.empty()) {
    result.errors.push_back("nothing to import: the input is empty");
    return result;
  }
  if (text.front() == '{') {
    nlohmann::json config;
    std::string error;
    if (!parse_json(text, config, error)) {
      result.errors.push_back("the input starts like a v2ray/Xray JSON config but is " + error);
      return result;
    }
    read_v2ray_config(config, readings, error);
    if (!error.empty()) {
      result.errors.push_back(error);
      return result;
    }
  } else if (has_scheme_line(text)) {
    read_links(text, readings);
  } else if (looks_like_v2rayn_body(text)) {
    // Copied from a panel without its first characters, or pasted after typing the scheme.
    Reading reading;
    reading.where = "link 1";
    reading.warn(
        "this looks like the base64 of a v2rayN link without its vmess:// prefix: read as one");
    read_v2rayn_link(text, reading);
    readings.push_back(std::move(reading));
  } else if (auto decoded = crypto::base64_decode_lenient(text);
             decoded && has_scheme_line(std::string_view(
                            reinterpret_cast<const char*>(decoded->data()), decoded->size()))) {
    read_links(std::string(decoded->begin(), decoded->end()), readings);
  } else {
    const bool toml = text.front() == '[' || text.find("[server]") != std::string::npos;
    result.errors.push_back(toml ? "this looks like a vmess-local profile already: use it with -c"
                            : looks_like_bare_uri(text)
                                ? "this looks like ID@HOST:PORT without vmess:// in front: "
                                  "add it"
                                : "not a vmess:// link, a subscription (links, plain or "
                                  "base64) or a v2ray/Xray JSON config");
    return result;
  }

  for (Reading& reading : readings) {
    if (!reading.failed()) check_with_loader(reading);
    const std::string where = label(reading);
    for (const std::string& warning : reading.warnings)
      result.warnings.push_back(one_line(where + ": " + warning));
    if (reading.failed()) {
      result.errors.push_back(one_line(where + ": " + reading.error));
    } else {
      result.servers.push_back(std::move(reading.server));
    }
  }
  return result;
}

}  // namespace vmlocal::import
