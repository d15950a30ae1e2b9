// `vmess-local -c FILE run`: the main form's options written before a subcommand.
#pragma once

#include <CLI/CLI.hpp>

namespace vmlocal::cli {

// After app.parse(): the options given to the main form (-c, -l, --log-level, --stats-interval,
// --check) when a subcommand follows them are handed to that subcommand, as if written after it
// (sing-box's -c works either side of `run`; Xray's after it), so that neither the option nor
// the user's profile is silently dropped for the default one. Throws CLI::ValidationError when
// the subcommand has no such option (doctor has no --listen) or was given it as well.
void forward_leading_options(CLI::App& app);

}  // namespace vmlocal::cli
