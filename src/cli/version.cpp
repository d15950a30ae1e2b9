// `vmess-local version` (and -V, --version).
#include <cstdio>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "vmlocal_version.h"

namespace vmlocal::cli {

void add_version(CLI::App& parent, Action& chosen) {
  CLI::App* version = parent.add_subcommand("version", "Print the version and exit");
  version->callback([&chosen] {
    chosen = [] {
      std::printf("vmess-local %s\n", VMLOCAL_VERSION);
      return kExitOk;
    };
  });
}

}  // namespace vmlocal::cli
