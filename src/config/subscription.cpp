#include "vmlocal/config/subscription.hpp"

#include <algorithm>

namespace vmlocal::config {

SubscriptionSchedule::Millis SubscriptionSchedule::after_fetch(bool ok) {
  if (ok) {
    retry_ = Millis(0);
    return interval_;
  }
  retry_ = retry_.count() == 0 ? kFirstRetry : retry_ * 2;
  retry_ = std::min(retry_, interval_);
  return retry_;
}

std::string subscription_url_for_log(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "(subscription URL)";
  const size_t host_end = url.find_first_of("/?#", scheme + 3);
  std::string_view host =
      url.substr(scheme + 3, host_end == std::string_view::npos ? std::string_view::npos
                                                                : host_end - scheme - 3);
  // user:password@ is a secret too.
  if (const size_t at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
  std::string out(url.substr(0, scheme + 3));
  out += host;
  if (host_end != std::string_view::npos) out += "/...";
  return out;
}

}  // namespace vmlocal::config
