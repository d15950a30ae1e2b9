// Exit statuses shared by every subcommand (documented in the man page, EXIT STATUS).
#pragma once

namespace vmlocal::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work failed (import found nothing, a check failed)
inline constexpr int kExitUsage = 2;    // a bad command line or profile

}  // namespace vmlocal::cli
