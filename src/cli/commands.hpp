// The subcommands of vmess-local, one file each (src/cli/<name>.cpp). The command line is not
// a layer: it is the program's edge, where the runtime is started, profiles are checked and
// links imported. To add a subcommand: write its file with an add_<name>() below, list it in
// kCommands and in src/cli/meson.build, and document it in docs/vmess-local.1.scd.
#pragma once

#include <CLI/CLI.hpp>

#include <array>
#include <functional>

namespace vmlocal::cli {

// What to do once the command line is parsed: the chosen subcommand's work, returning the
// process's exit status.
using Action = std::function<int()>;

// Each adds its CLI11 subcommand to `parent`; when the user picks it, `chosen` is set.
void add_run(CLI::App& parent, Action& chosen);
void add_check(CLI::App& parent, Action& chosen);
// doctor: added by its own file (issue 12), between check and import.
void add_import(CLI::App& parent, Action& chosen);
void add_doctor(CLI::App& parent, Action& chosen);
void add_version(CLI::App& parent, Action& chosen);

// In --help order.
inline constexpr std::array kCommands = {&add_run, &add_check, &add_doctor, &add_import,
                                         &add_version};

}  // namespace vmlocal::cli
