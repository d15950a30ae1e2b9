// [probe]: the URL fetched through a server to check it end to end, and how often.
#include <string>
#include <variant>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"
#include "vmlocal/util/http_url.hpp"

namespace vmlocal::config {

void read_probe(Problems& problems, const toml::table& probe, Profile::Probe& out) {
  check_keys(problems, probe, kProbe);
  if (const toml::node* node = probe.get("url")) {
    if (const auto* text = node->as_string(); text != nullptr && text->get().empty()) {
      out.url.clear();  // probes off
      out.url_set = true;
    } else if (const auto* text = node->as_string()) {
      auto parsed = http::parse_url(text->get());
      if (const auto* error = std::get_if<std::string>(&parsed)) {
        problems.add(node->source(), "probe.url " + *error + ", got " + describe(*node) +
                                         R"( (e.g. url = "https://www.gstatic.com/generate_204"))");
      } else {
        out.url = text->get();
        out.url_set = true;
      }
    } else {
      problems.add(node->source(),
                   "probe.url must be an http:// or https:// URL, got " + describe(*node));
    }
  }
  if (const toml::node* node = probe.get("interval")) {
    if (auto value = read_seconds(problems, *node, "probe.interval")) out.interval = *value;
  }
  if (const toml::node* node = probe.get("timeout")) {
    if (auto value = read_seconds(problems, *node, "probe.timeout")) out.timeout = *value;
  }
}

}  // namespace vmlocal::config
