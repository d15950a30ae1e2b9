// [balancer] (which server a new tunnel tries first) and [probe] (the health check that feeds
// it). Both only matter with several servers; a single server ignores them.
#include <array>
#include <string>

#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {
namespace {

constexpr std::array kStrategyNames = {"first"sv, "fastest"sv};

// An http:// or https:// URL with a host; the probe sends it as written.
std::string url_problem(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else {
    return "must start with http:// or https://";
  }
  if (rest.empty() || rest.front() == '/' || rest.front() == ':') return "has no host";
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) return "must not contain spaces or control characters";
  }
  return {};
}

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

void read_probe(Problems& problems, const toml::table& probe, Profile::Probe& out) {
  check_keys(problems, probe, kProbe);
  if (const toml::node* node = probe.get("url")) {
    const auto* text = node->as_string();
    if (text == nullptr) {
      problems.add(
          node->source(),
          R"(probe.url must be a URL in quotes, e.g. "https://www.gstatic.com/generate_204", got )" +
              describe(*node));
    } else if (const std::string problem = url_problem(text->get()); !problem.empty()) {
      problems.add(node->source(), "probe.url " + quote(text->get()) + " " + problem);
    } else {
      out.url = text->get();
    }
  }
  if (const toml::node* node = probe.get("interval")) {
    // 0 turns the health check off; anything else is a number of seconds.
    if ((node->is_integer() || node->is_floating_point()) && node->value<double>() == 0.0) {
      out.interval = std::chrono::milliseconds(0);
    } else if (auto value = read_seconds(problems, *node, "probe.interval")) {
      out.interval = *value;
    }
  }
}

}  // namespace vmlocal::config
