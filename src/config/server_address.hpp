// Checking server.address before anything tries to resolve it. Private to src/config.
#pragma once

#include <string>
#include <string_view>

namespace vmlocal::config {

// Why `address` is not a host name or an IP literal (IPv6 without brackets), phrased to follow
// "server.address " in a message; "" when it is fine. Catches what users paste by mistake: a
// port, brackets, a URL or share link (echoing only its scheme: a vmess:// link carries the
// UUID), spaces.
std::string server_address_problem(std::string_view address);

}  // namespace vmlocal::config
