// Fetching a subscription over http(s) with libcurl.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::cli {

// The body of a 2xx answer, or why there is none. Follows up to 5 redirects, gives up when
// nothing came for 10 s (connecting included) or after 30 s in all, refuses more than 8 MiB,
// verifies certificates; honours http_proxy/https_proxy/all_proxy (env_proxy.hpp), and names
// the one it went through when it fails.
struct FetchOptions {
  // This process's listen addresses while it does not serve yet (at start): an environment
  // proxy naming one of them is skipped, with a log line, instead of failing on a refused
  // connection.
  std::vector<config::ListenEndpoint> not_serving;
};
std::variant<std::string, std::string> fetch_url(const std::string& url,
                                                 const FetchOptions& options = {});

// Makes every fetch in flight, and every later one, give up within about a second ("the fetch
// was cancelled: vmess-local is stopping"): the process is stopping and must not wait out a
// stalled provider's 30 s. Safe from any thread; there is no undo.
void cancel_fetches();

inline bool is_body(const std::variant<std::string, std::string>& result) {
  return result.index() == 0;
}

}  // namespace vmlocal::cli
