// `vmess-local doctor`: the layer-by-layer diagnosis (doctor/doctor.hpp). Exit 0 when every
// layer passed, 1 when one failed, 2 on a usage or profile error.
#include <csignal>
#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "profile_options.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/doctor/doctor.hpp"
#include "vmlocal/log/log.hpp"

namespace vmlocal::cli {
namespace {

int run_doctor(const ProfileOptions& options) {
  auto profile = load_profile_for(options);
  if (!profile) return kExitUsage;
  // The report is the output; the log says only what goes wrong underneath.
  log::set_level(log::Level::kError);
  std::signal(SIGPIPE, SIG_IGN);
  crypto::ensure_initialized();
  return doctor::run_doctor(*profile, stdout);
}

}  // namespace

void add_doctor(CLI::App& parent, Action& chosen) {
  auto options = std::make_shared<ProfileOptions>();
  CLI::App* doctor = parent.add_subcommand(
      "doctor",
      "Check every layer between this computer and the server (DNS, TCP, TLS, the transport, "
      "VMess) and name the first that fails, with the fix (exit 0: all pass, 1: a layer failed)");
  add_profile_options(*doctor, *options);
  doctor->callback([options, &chosen] { chosen = [options] { return run_doctor(*options); }; });
}

}  // namespace vmlocal::cli
