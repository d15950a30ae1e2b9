// [subscription]: where a provider's server list is, and how often it is fetched again.
#include <string>
#include <variant>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"
#include "vmlocal/util/http_url.hpp"

namespace vmlocal::config {

void read_subscription(Problems& problems, const toml::table& subscription,
                       Profile::Subscription& out) {
  check_keys(problems, subscription, kSubscription);
  const toml::node* url = subscription.get("url");
  if (url == nullptr) {
    problems.add(subscription.source(),
                 "[subscription] needs url = \"https://...\" (the provider's subscription link)");
  } else if (const auto* text = url->as_string()) {
    auto parsed = http::parse_url(text->get());
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      // Not the value itself: a subscription link usually carries an account token.
      problems.add(url->source(), "subscription.url " + *error);
    } else {
      out.url = text->get();
    }
  } else {
    problems.add(url->source(),
                 "subscription.url must be an http:// or https:// URL, got " + describe(*url));
  }
  if (const toml::node* node = subscription.get("interval")) {
    if (auto value = read_seconds(problems, *node, "subscription.interval")) out.interval = *value;
  }
}

}  // namespace vmlocal::config
