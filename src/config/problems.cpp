#include "problems.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "diagnostic_text.hpp"

namespace vmlocal::config {
namespace {

constexpr double kMinSeconds = 0.001;   // the timers tick in milliseconds
constexpr double kMaxSeconds = 86'400;  // one day: anything longer is a mistake in the unit

// "443" in quotes where a number belongs is the commonest type mistake; say how to fix it.
std::string quoted_number_hint(const toml::node& node) {
  const auto* text = node.as_string();
  if (text == nullptr || text->get().empty()) return {};
  for (char c : text->get()) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+')) return {};
  }
  return " (in quotes; write numbers without quotes)";
}

}  // namespace

Position position_of(const toml::source_region& region) {
  if (region.begin.line == 0) return {};
  return {region.begin.line, std::max<uint32_t>(region.begin.column, 1)};
}

std::string format_problem(std::string_view path, Position at, std::string_view message) {
  return std::string(path) + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
         ": " + std::string(message);
}

void Problems::add(const toml::source_region& where, std::string message) {
  keep(specific_, position_of(where), std::move(message));
}

void Problems::add_missing(const toml::source_region* where, std::string message) {
  keep(missing_, where ? position_of(*where) : Position{}, std::move(message));
}

std::string Problems::render(std::string_view path) const {
  const auto& [at, message] = specific_ ? *specific_ : *missing_;
  return format_problem(path, at, message);
}

void Problems::keep(std::optional<Entry>& slot, Position at, std::string message) {
  if (!slot || at < slot->first) slot.emplace(at, std::move(message));
}

std::string describe(const toml::node& node) {
  std::ostringstream out;
  switch (node.type()) {
    case toml::node_type::string:
      return quote(node.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point:
      out << *node.as_floating_point();  // TOML spelling: "443.0", "inf", "nan"
      return out.str();
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date and time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string join_quoted(Names names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += quote(name);
  }
  return out;
}

std::string join(Names names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::optional<int64_t> read_integer(Problems& problems, const toml::node& node,
                                    std::string_view name, int64_t min, int64_t max) {
  if (const auto* value = node.as_integer()) {
    if (value->get() >= min && value->get() <= max) return value->get();
  }
  problems.add(node.source(), std::string(name) + " must be an integer " + std::to_string(min) +
                                  ".." + std::to_string(max) + ", got " + describe(node) +
                                  quoted_number_hint(node));
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> read_seconds(Problems& problems, const toml::node& node,
                                                      std::string_view name) {
  std::optional<double> seconds;
  if (const auto* value = node.as_integer()) seconds = static_cast<double>(value->get());
  if (const auto* value = node.as_floating_point()) seconds = value->get();
  // NaN fails both comparisons, so it is rejected too.
  if (seconds && *seconds >= kMinSeconds && *seconds <= kMaxSeconds) {
    return std::chrono::milliseconds(std::llround(*seconds * 1000));
  }
  problems.add(node.source(), std::string(name) +
                                  " must be a number of seconds from 0.001 to 86400 (one day), "
                                  "got " +
                                  describe(node) + quoted_number_hint(node));
  return std::nullopt;
}

std::optional<std::string_view> read_choice(Problems& problems, const toml::node& node,
                                            std::string_view name, Names choices) {
  const auto* text = node.as_string();
  if (text != nullptr) {
    const auto found = std::find(choices.begin(), choices.end(), text->get());
    if (found != choices.end()) return *found;
  }
  std::string message = std::string(name) +
                        (choices.size() == 1 ? " must be " : " must be one of ") +
                        join_quoted(choices) + "; got " + describe(node);
  if (text != nullptr) {
    const std::string_view near = closest_match(text->get(), choices);
    if (!near.empty()) message += " (did you mean " + quote(near) + "?)";
  }
  problems.add(node.source(), std::move(message));
  return std::nullopt;
}

}  // namespace vmlocal::config
