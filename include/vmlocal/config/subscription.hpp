// [subscription] timing and naming, pure (tested on durations alone): when the next fetch is
// due, and how a subscription URL appears in logs (its host only: the path and query of a
// provider's link usually hold the account's token, a secret).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace vmlocal::config {

class SubscriptionSchedule {
 public:
  using Millis = std::chrono::milliseconds;
  // A failed fetch is retried after kFirstRetry, doubling, but never later than the interval.
  static constexpr Millis kFirstRetry{60'000};

  explicit SubscriptionSchedule(Millis interval) : interval_(interval) {}

  // The delay before the next fetch, after one that worked (`ok`, whether or not the list
  // changed) or failed (no answer, an HTTP error, nothing usable in it).
  Millis after_fetch(bool ok);
  Millis interval() const { return interval_; }

 private:
  Millis interval_;
  Millis retry_{0};  // the last retry delay; 0 after a fetch that worked
};

// "https://example.com/..." — the scheme and host of `url`, for logs.
std::string subscription_url_for_log(std::string_view url);

}  // namespace vmlocal::config
