// [route]: which targets skip the VMess server (route/rules.hpp says why private ones do).
#include <array>
#include <string>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {
namespace {

constexpr std::array kPrivateChoices = {"direct"sv, "proxy"sv, "block"sv};

void read_rules(Problems& problems, const toml::node* node, std::string_view key,
                std::vector<route::Rule>& out) {
  if (node == nullptr) return;
  const std::string name = "route." + std::string(key);
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    problems.add(node->source(), name +
                                     R"( must be a list of domain suffixes and address ranges, )"
                                     R"(e.g. ["example.org", "10.0.0.0/8"], got )" +
                                     describe(*node));
    return;
  }
  for (const toml::node& entry : *array) {
    const auto* text = entry.as_string();
    if (text == nullptr) {
      problems.add(entry.source(), name +
                                       " entries must be strings like \"example.org\" or "
                                       "\"10.0.0.0/8\", got " +
                                       describe(entry));
      return;
    }
    route::ParsedRule parsed = route::parse_rule(text->get());
    if (!parsed.rule) {
      problems.add(entry.source(), name + " entry " + quote(text->get()) + ": " + parsed.error);
      return;
    }
    out.push_back(std::move(*parsed.rule));
  }
}

}  // namespace

void read_route(Problems& problems, const toml::table& table, route::Rules& out) {
  check_keys(problems, table, kRoute);
  if (const toml::node* node = table.get("private")) {
    if (auto choice = read_choice(problems, *node, "route.private", kPrivateChoices)) {
      out.private_targets = *choice == "direct"  ? route::Decision::kDirect
                            : *choice == "proxy" ? route::Decision::kProxy
                                                 : route::Decision::kBlock;
    }
  }
  read_rules(problems, table.get("direct"), "direct", out.direct);
  read_rules(problems, table.get("block"), "block", out.block);
}

}  // namespace vmlocal::config
