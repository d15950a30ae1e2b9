#include "leading_options.hpp"

#include <string>
#include <vector>

namespace vmlocal::cli {

void forward_leading_options(CLI::App& app) {
  const std::vector<CLI::App*> chosen = app.get_subcommands();
  if (chosen.empty()) return;
  CLI::App& subcommand = *chosen.front();
  const std::string where = "vmess-local " + subcommand.get_name();
  for (CLI::Option* given : app.get_options([](const CLI::Option* o) { return o->count() > 0; })) {
    const std::string name = given->get_name();
    CLI::Option* theirs = subcommand.get_option_no_throw(name);
    if (theirs == nullptr) {
      throw CLI::ValidationError(name, "given before \"" + subcommand.get_name() +
                                           "\", which has no such option (`" + where +
                                           " --help` lists its options)");
    }
    if (theirs->count() > 0) {
      throw CLI::ValidationError(
          name, "given both before and after \"" + subcommand.get_name() + "\"; give it once");
    }
    // The raw text again, through the subcommand's own conversion and checks.
    theirs->add_result(given->results());
    theirs->run_callback();
  }
}

}  // namespace vmlocal::cli
