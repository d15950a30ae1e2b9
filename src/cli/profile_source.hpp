// Where `run` gets a new profile on a reload: the same file with the same command-line
// overrides (SIGHUP), plus its [subscription]'s servers, fetched again. Called by the runtime on
// a thread-pool thread, one call at a time: its state is touched by nothing else.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "profile_options.hpp"
#include "vmlocal/runtime/runtime.hpp"

namespace vmlocal::cli {

class ProfileSource {
 public:
  ProfileSource(ProfileOptions options, std::string path, ProfileParts start);

  // kSignal: the file again; its subscription fetched again (a failed fetch keeps the servers
  // of the last good one, with a warning). kSubscription: the subscription only, applied to the
  // file as last loaded; Unchanged when its servers are the same.
  runtime::ReloadResult reload(runtime::ReloadTrigger trigger);

 private:
  ProfileOptions options_;
  std::string path_;
  config::Profile file_;  // the last file profile that loaded
  std::optional<std::vector<config::Profile::Server>> servers_;  // the last good subscription
};

}  // namespace vmlocal::cli
