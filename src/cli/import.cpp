// `vmess-local import LINK|FILE|URL|-`: a share link, a subscription or a v2ray/Xray JSON
// config, written as a profile to stdout or to -o FILE (created 0600: it holds the uuid).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "fetch.hpp"
#include "invocation.hpp"
#include "profile_options.hpp"
#include "vmlocal/config/profile.hpp"
#include "vmlocal/import/argument.hpp"
#include "vmlocal/import/import.hpp"

namespace vmlocal::cli {
namespace {

struct ImportOptions {
  std::string input;
  std::string output;
  std::vector<std::string> listen;
  bool force = false;
};

void say(const std::string& line) {
  std::fprintf(stderr, "vmess-local: import: %s\n", line.c_str());
}

// The text to import, and a description of where it came from (never the link itself: it
// holds the uuid). False after saying why there is none.
bool read_input(const std::string& input, std::string& text, std::string& source) {
  const import::Argument argument = import::classify_argument(input, [](const std::string& path) {
    std::error_code error;
    return std::filesystem::exists(path, error);
  });
  source = argument.source;
  switch (argument.kind) {
    case import::ArgumentKind::kStandardInput:
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      return true;
    case import::ArgumentKind::kText:
      text = argument.value;
      return true;
    case import::ArgumentKind::kUrl: {
      auto fetched = fetch_url(argument.value);
      if (!is_body(fetched)) {
        say("cannot fetch " + source.substr(std::string_view("the subscription at ").size()) +
            ": " + std::get<1>(fetched));
        return false;
      }
      text = std::move(std::get<0>(fetched));
      return true;
    }
    case import::ArgumentKind::kFile:
      break;
  }
  std::ifstream file(argument.value, std::ios::binary);
  if (!file) {
    say("cannot read " + import::path_for_message(argument.value) + ": " + std::strerror(errno) +
        " (give a vmess:// link, a file, an http(s) URL, or - for standard input)");
    return false;
  }
  std::ostringstream content;
  content << file.rdbuf();
  text = content.str();
  return true;
}

// Creates FILE (and missing parent directories, 0700) with mode 0600 whatever the umask;
// refuses to replace an existing file unless `force`.
bool write_output(const std::string& path, const std::string& text, bool force) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!parent.empty() && !std::filesystem::exists(parent, error)) {
    std::filesystem::create_directories(parent, error);
    if (error) {
      say("cannot create " + parent.string() + ": " + error.message());
      return false;
    }
    std::filesystem::permissions(parent, std::filesystem::perms::owner_all, error);
  }
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    say("cannot write " + path + ": " + std::strerror(errno) +
        (errno == EEXIST ? " (use --force to replace it)" : ""));
    return false;
  }
  bool ok = ::fchmod(fd, 0600) == 0;  // an existing file kept its mode through O_TRUNC
  size_t written = 0;
  while (ok && written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok) say("cannot write " + path + ": " + std::strerror(errno));
  return ok;
}

int run_import(const ImportOptions& options) {
  for (const std::string& listen : options.listen) {
    auto parsed = config::parse_listen_endpoint(listen);
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      std::fprintf(stderr, "vmess-local: import: --listen %s: %s\n", listen.c_str(),
                   error->c_str());
      return kExitUsage;
    }
  }
  std::string text;
  std::string source;
  if (!read_input(options.input, text, source)) return kExitFailure;
  const import::ImportResult result = import::import_text(text);
  for (const std::string& warning : result.warnings)
    say("warning: " + warning);
  for (const std::string& error : result.errors)
    say(error);
  if (result.servers.empty()) {
    if (!result.errors.empty() && result.errors.size() > 1) say("no server could be imported");
    return kExitFailure;
  }
  if (!result.errors.empty()) {
    say("imported " + std::to_string(result.servers.size()) + " of " +
        std::to_string(result.servers.size() + result.errors.size()) +
        " servers; the others are named above");
  }
  const std::string profile = import::to_toml(result.servers, {source, options.listen});
  if (options.output.empty() || options.output == "-") {
    std::fwrite(profile.data(), 1, profile.size(), stdout);
    return kExitOk;
  }
  if (!write_output(options.output, profile, options.force)) return kExitFailure;
  // Without -c, vmess-local runs the first default profile that exists: is it this one?
  const auto default_path = default_profile_path();
  std::error_code error;
  const bool is_default =
      default_path && std::filesystem::equivalent(*default_path, options.output, error);
  say("wrote " + std::to_string(result.servers.size()) +
      (result.servers.size() == 1 ? " server" : " servers") + " to " + options.output +
      "; start with: " + invoked_as() + (is_default ? "" : " -c " + shell_word(options.output)));
  return kExitOk;
}

}  // namespace

void add_import(CLI::App& parent, Action& chosen) {
  auto options = std::make_shared<ImportOptions>();
  CLI::App* command = parent.add_subcommand(
      "import",
      "Turn a vmess:// link, a subscription (file or http(s) URL) or a v2ray/Xray JSON config "
      "into a profile");
  command
      ->add_option("input", options->input,
                   "vmess://... link, a file, an http(s):// subscription URL, or - for "
                   "standard input")
      ->required()
      ->type_name("LINK|FILE|URL|-");
  command
      ->add_option("-o,--output", options->output,
                   "Write the profile to FILE (created with mode 0600, parent directories too) "
                   "instead of standard output")
      ->type_name("FILE");
  command->add_flag("-f,--force", options->force, "Replace the -o FILE if it exists");
  command
      ->add_option("-l,--listen", options->listen,
                   "Write this [local] listen address into the profile, e.g. 127.0.0.1:1081 "
                   "(repeatable)")
      ->type_name("ADDR:PORT");
  command->callback([options, &chosen] { chosen = [options] { return run_import(*options); }; });
}

}  // namespace vmlocal::cli
