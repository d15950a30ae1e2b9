// A `[subscription]`'s servers (config::Profile::Subscription), pure: the fetched text (vmess://
// links, plain or base64 as a whole — what import_text reads) -> profile servers, each checked by
// the profile loader, and the profile they run in. Fetching is the command line's job.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::import {

struct SubscriptionServers {
  std::vector<config::Profile::Server> servers;  // in the subscription's order
  // Links that could not be used (named by their line, never by their uuid).
  std::vector<std::string> warnings;
  // Set when nothing usable came: what the text was instead. The servers are empty then.
  std::string error;
};

SubscriptionServers subscription_servers(std::string_view text);

// `profile` with `servers` after its own (profile.servers); every key of the profile other than
// the servers applies to all of them. A subscription server named like an earlier one gets
// " (2)", " (3)"... so logs and counters stay unambiguous.
config::Profile with_subscription(config::Profile profile,
                                  const std::vector<config::Profile::Server>& servers);

}  // namespace vmlocal::import
