// Running and checking a profile: what `vmess-local -c FILE [--check]` does without a
// subcommand, shared with `run` and `check`.
#pragma once

#include "profile_options.hpp"

namespace vmlocal::cli {

int run_proxy(const ProfileOptions& options);
int check_profile(const ProfileOptions& options);

}  // namespace vmlocal::cli
