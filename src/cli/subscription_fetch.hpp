// The servers of a profile's [subscription]: fetched (libcurl, fetch.hpp) and read
// (import::subscription_servers). Warnings about single links are logged here.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "fetch.hpp"
#include "vmlocal/config/profile.hpp"

namespace vmlocal::cli {

using Servers = std::vector<config::Profile::Server>;

// The servers, or why there are none ("subscription https://host/...: the server answered HTTP
// 404"): the URL appears by its host only (its path usually holds a token).
std::variant<Servers, std::string> fetch_subscription(const std::string& url,
                                                      const FetchOptions& options = {});

}  // namespace vmlocal::cli
