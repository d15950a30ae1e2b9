#include "profile_source.hpp"

#include <utility>
#include <variant>

#include "subscription_fetch.hpp"
#include "vmlocal/config/subscription.hpp"
#include "vmlocal/import/subscription.hpp"
#include "vmlocal/log/log.hpp"

namespace vmlocal::cli {

ProfileSource::ProfileSource(ProfileOptions options, std::string path, ProfileParts start)
    : options_(std::move(options)),
      path_(std::move(path)),
      file_(std::move(start.file)),
      servers_(std::move(start.subscription)) {}

runtime::ReloadResult ProfileSource::reload(runtime::ReloadTrigger trigger) {
  if (trigger == runtime::ReloadTrigger::kSignal) {
    auto loaded = reload_profile_for(options_, path_);
    if (auto* error = std::get_if<std::string>(&loaded)) return std::move(*error);
    config::Profile file = std::move(std::get<config::Profile>(loaded));
    const std::string url = file.subscription.url;
    if (url != file_.subscription.url) servers_.reset();  // another subscription
    file_ = file;
    if (url.empty()) return file;
    auto fetched = fetch_subscription(url);
    if (auto* error = std::get_if<std::string>(&fetched)) {
      if (servers_) {
        log::warn(*error, "; keeping the servers of its last fetch");
      } else if (file.servers.empty()) {
        return *error + ": no server to use (the profile has none of its own)";
      } else {
        log::warn(*error, "; going on with the profile's own servers");
        return file;
      }
    } else {
      servers_ = std::move(std::get<Servers>(fetched));
    }
    return servers_ ? import::with_subscription(std::move(file), *servers_) : file;
  }

  if (file_.subscription.url.empty()) return runtime::Unchanged{};
  auto fetched = fetch_subscription(file_.subscription.url);
  if (auto* error = std::get_if<std::string>(&fetched)) return std::move(*error);
  Servers& servers = std::get<Servers>(fetched);
  if (servers_ && *servers_ == servers) return runtime::Unchanged{};
  servers_ = std::move(servers);
  log::info("subscription ", config::subscription_url_for_log(file_.subscription.url),
            ": the server list changed (", servers_->size(), " server(s))");
  return import::with_subscription(file_, *servers_);
}

}  // namespace vmlocal::cli
