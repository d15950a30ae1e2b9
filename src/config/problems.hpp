// Reporting profile problems at their TOML position, and reading typed values with the
// messages a user sees when they are wrong. Private to src/config.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <toml++/toml.h>

namespace vmlocal::config {

using Names = std::span<const std::string_view>;

// A table of the profile and the keys it allows.
struct TableSchema {
  std::string_view name;  // as in messages: "server", "server.tls"
  Names keys;
};

struct Position {
  uint32_t line = 1;
  uint32_t column = 1;
  auto operator<=>(const Position&) const = default;
};

// The start of `region`; 1:1 when toml++ recorded none (implicitly created tables).
Position position_of(const toml::source_region& region);

// "path:line:column: message".
std::string format_problem(std::string_view path, Position at, std::string_view message);

// Collects what is wrong and keeps only the first problem in file order: one precise message
// is what a user can act on, and fixing top to bottom converges.
class Problems {
 public:
  // Something the user wrote is wrong: point at it.
  void add(const toml::source_region& where, std::string message);
  // Something is absent (where: the table it belongs in, or nullptr for 1:1). Reported only
  // when nothing specific was found: a misspelt key shows up both as unknown and as missing,
  // and the typo is what the user needs to hear about.
  void add_missing(const toml::source_region* where, std::string message);

  bool any() const { return specific_ || missing_; }
  // The first problem as "path:line:column: message"; only when any().
  std::string render(std::string_view path) const;

 private:
  using Entry = std::pair<Position, std::string>;
  static void keep(std::optional<Entry>& slot, Position at, std::string message);

  std::optional<Entry> specific_;
  std::optional<Entry> missing_;
};

// What the user wrote, for "got ..." in a message: a quoted string, a number, or the kind of
// value ("an array"). Never call this for a secret.
std::string describe(const toml::node& node);

// "a", "b", "c" and a, b, c.
std::string join_quoted(Names names);
std::string join(Names names);

// Each returns the value when it is valid; otherwise reports "`name` must be ..., got ..."
// at the value and returns nullopt.
std::optional<int64_t> read_integer(Problems& problems, const toml::node& node,
                                    std::string_view name, int64_t min, int64_t max);
// A number of seconds, integer or float, from 0.001 to one day, as milliseconds.
std::optional<std::chrono::milliseconds> read_seconds(Problems& problems, const toml::node& node,
                                                      std::string_view name);
// A string that is exactly one of `choices`.
std::optional<std::string_view> read_choice(Problems& problems, const toml::node& node,
                                            std::string_view name, Names choices);

}  // namespace vmlocal::config
