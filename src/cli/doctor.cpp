// `vmess-local doctor`: the layer-by-layer diagnosis (doctor/doctor.hpp). Exit 0 when every
// layer passed, 1 when one failed, 2 on a usage or profile error.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "profile_options.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/doctor/doctor.hpp"
#include "vmlocal/log/log.hpp"

namespace vmlocal::cli {
namespace {

struct DoctorOptions {
  ProfileOptions profile;
  std::vector<std::string> servers;  // --server: names (or address:port); empty: every server
};

int run_doctor(const DoctorOptions& options) {
  auto profile = load_profile_for(options.profile);
  if (!profile) return kExitUsage;
  std::vector<size_t> chosen;
  for (const std::string& wanted : options.servers) {
    size_t i = 0;
    while (i < profile->servers.size() && profile->servers[i].name != wanted)
      ++i;
    if (i == profile->servers.size()) {
      std::string names;
      for (const auto& server : profile->servers)
        names += (names.empty() ? "" : ", ") + server.name;
      std::fprintf(
          stderr,
          "vmess-local: doctor --server: no server named \"%s\" in the profile (it has: %s)\n",
          wanted.c_str(), names.c_str());
      return kExitUsage;
    }
    if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) chosen.push_back(i);
  }
  if (chosen.empty()) {
    for (size_t i = 0; i < profile->servers.size(); ++i)
      chosen.push_back(i);
  }
  // The report is the output; the log says only what goes wrong underneath, unless
  // --log-level asks for more.
  log::set_level(options.profile.log_level.empty() ? log::Level::kError
                                                   : *log::parse_level(options.profile.log_level));
  std::signal(SIGPIPE, SIG_IGN);
  crypto::ensure_initialized();
  return doctor::run_doctor(*profile, stdout, chosen);
}

}  // namespace

void add_doctor(CLI::App& parent, Action& chosen) {
  auto options = std::make_shared<DoctorOptions>();
  CLI::App* doctor = parent.add_subcommand(
      "doctor",
      "Check every layer between this computer and the server (DNS, TCP, TLS, the transport, "
      "VMess) and name the first that fails, with the fix (exit 0: all pass, 1: a layer failed, "
      "2: a usage or profile error). "
      "With several servers, each in turn");
  add_profile_options(*doctor, options->profile);
  doctor
      ->add_option("--server", options->servers,
                   "Diagnose only this server: its [[servers]] name, or address:port when it has "
                   "none (repeatable; default: every server)")
      ->type_name("NAME");
  // The report is the output: the log only says what goes wrong underneath, unless asked.
  if (CLI::Option* level = doctor->get_option_no_throw("--log-level")) {
    level->description(
        "error, warn, info or debug (default here: error, whatever [log] level "
        "says: the report is the output)");
  }
  doctor->callback([options, &chosen] { chosen = [options] { return run_doctor(*options); }; });
}

}  // namespace vmlocal::cli
