// [balancer]: which server a new tunnel tries first. Only matters with several servers; the
// health checks that feed it are [probe]'s (profile_probe.cpp).
#include <array>
#include <string>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {
namespace {

constexpr std::array kStrategyNames = {"first"sv, "fastest"sv};

}  // namespace

std::string_view strategy_name(Profile::Balancer::Strategy strategy) {
  return strategy == Profile::Balancer::Strategy::kFastest ? "fastest" : "first";
}

void read_balancer(Problems& problems, const toml::table& balancer, Profile::Balancer& out) {
  check_keys(problems, balancer, kBalancer);
  if (const toml::node* node = balancer.get("strategy")) {
    if (auto name = read_choice(problems, *node, "balancer.strategy", kStrategyNames)) {
      out.strategy = *name == "fastest" ? Profile::Balancer::Strategy::kFastest
                                        : Profile::Balancer::Strategy::kFirst;
    }
  }
  if (const toml::node* node = balancer.get("tolerance_ms")) {
    if (auto ms = read_integer(problems, *node, "balancer.tolerance_ms", 0, 60'000)) {
      out.tolerance = std::chrono::milliseconds(*ms);
    }
  }
}

}  // namespace vmlocal::config
