#include "subscription_fetch.hpp"

#include "fetch.hpp"
#include "vmlocal/config/subscription.hpp"
#include "vmlocal/import/subscription.hpp"
#include "vmlocal/log/log.hpp"

namespace vmlocal::cli {

std::variant<Servers, std::string> fetch_subscription(const std::string& url,
                                                      const FetchOptions& options) {
  const std::string where = "subscription " + config::subscription_url_for_log(url);
  // Said before, not after: a provider that does not answer holds this for up to 10 s.
  log::info("fetching ", where);
  auto body = fetch_url(url, options);
  if (!is_body(body)) return where + ": " + std::get<1>(body);
  import::SubscriptionServers read = import::subscription_servers(std::get<0>(body));
  if (!read.error.empty()) return where + ": " + read.error;
  for (const std::string& warning : read.warnings)
    log::warn(where, ": ", warning);
  return std::move(read.servers);
}

}  // namespace vmlocal::cli
