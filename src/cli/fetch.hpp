// Fetching a subscription over http(s) with libcurl.
#pragma once

#include <string>
#include <variant>

namespace vmlocal::cli {

// The body of a 2xx answer, or why there is none. Follows up to 5 redirects, gives up when
// nothing came for 10 s (connecting included) or after 30 s in all, refuses more than 8 MiB,
// verifies certificates; honours http_proxy/https_proxy.
std::variant<std::string, std::string> fetch_url(const std::string& url);

// Makes every fetch in flight, and every later one, give up within about a second ("the fetch
// was cancelled: vmess-local is stopping"): the process is stopping and must not wait out a
// stalled provider's 30 s. Safe from any thread; there is no undo.
void cancel_fetches();

inline bool is_body(const std::variant<std::string, std::string>& result) {
  return result.index() == 0;
}

}  // namespace vmlocal::cli
