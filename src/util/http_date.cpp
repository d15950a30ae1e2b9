#include "vmlocal/util/http_date.hpp"

#include <array>
#include <charconv>

namespace vmlocal::http {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// Reads exactly `digits` digits (a leading space allowed for asctime's day) from the front.
std::optional<int> take_number(std::string_view& s, size_t digits, bool space_padded = false) {
  if (s.size() < digits) return std::nullopt;
  std::string_view field = s.substr(0, digits);
  if (space_padded && field.front() == ' ') field.remove_prefix(1);
  // from_chars takes a leading '-': "-994" is not a year of four digits.
  if (field.empty() || field.front() < '0' || field.front() > '9') return std::nullopt;
  int value = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || end != field.data() + field.size()) return std::nullopt;
  s.remove_prefix(digits);
  return value;
}

bool take(std::string_view& s, std::string_view literal) {
  if (!s.starts_with(literal)) return false;
  s.remove_prefix(literal.size());
  return true;
}

std::optional<unsigned> take_month(std::string_view& s) {
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (take(s, kMonths[i])) return static_cast<unsigned>(i + 1);
  }
  return std::nullopt;
}

// "08:49:37"
bool take_time(std::string_view& s, int& h, int& m, int& sec) {
  auto hh = take_number(s, 2);
  if (!hh || !take(s, ":")) return false;
  auto mm = take_number(s, 2);
  if (!mm || !take(s, ":")) return false;
  auto ss = take_number(s, 2);
  if (!ss) return false;
  h = *hh;
  m = *mm;
  sec = *ss;
  return h <= 23 && m <= 59 && sec <= 60;
}

std::optional<int64_t> to_unix(int64_t year, unsigned month, int day, int h, int m, int s) {
  if (day < 1 || day > 31) return std::nullopt;
  return days_from_civil(year, month, static_cast<unsigned>(day)) * 86400 + h * 3600 + m * 60 + s;
}

}  // namespace

std::optional<int64_t> parse_http_date(std::string_view text) {
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  const size_t comma = text.find(',');
  int h = 0;
  int m = 0;
  int s = 0;
  if (comma == 3) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    std::string_view rest = text.substr(4);
    if (!take(rest, " ")) return std::nullopt;
    auto day = take_number(rest, 2);
    if (!day || !take(rest, " ")) return std::nullopt;
    auto month = take_month(rest);
    if (!month || !take(rest, " ")) return std::nullopt;
    auto year = take_number(rest, 4);
    if (!year || !take(rest, " ") || !take_time(rest, h, m, s) || rest != " GMT") {
      return std::nullopt;
    }
    return to_unix(*year, *month, *day, h, m, s);
  }
  if (comma != std::string_view::npos) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year is read as the one in the
    // last 50 years (RFC 9110 §5.6.7); this clock may be off, so 1970-2069.
    std::string_view rest = text.substr(comma + 1);
    if (!take(rest, " ")) return std::nullopt;
    auto day = take_number(rest, 2);
    if (!day || !take(rest, "-")) return std::nullopt;
    auto month = take_month(rest);
    if (!month || !take(rest, "-")) return std::nullopt;
    auto year = take_number(rest, 2);
    if (!year || !take(rest, " ") || !take_time(rest, h, m, s) || rest != " GMT") {
      return std::nullopt;
    }
    return to_unix(*year < 70 ? 2000 + *year : 1900 + *year, *month, *day, h, m, s);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (text.size() != 24) return std::nullopt;
  std::string_view rest = text.substr(3);
  if (!take(rest, " ")) return std::nullopt;
  auto month = take_month(rest);
  if (!month || !take(rest, " ")) return std::nullopt;
  auto day = take_number(rest, 2, true);
  if (!day || !take(rest, " ") || !take_time(rest, h, m, s) || !take(rest, " ")) {
    return std::nullopt;
  }
  auto year = take_number(rest, 4);
  if (!year || !rest.empty()) return std::nullopt;
  return to_unix(*year, *month, *day, h, m, s);
}

}  // namespace vmlocal::http
