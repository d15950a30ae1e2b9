// How the user ran this binary, so that a message telling them what to type next names it the
// same way: before `meson install` the binary is not on PATH, and "start with: vmess-local"
// would fail where "start with: build/release/vmess-local" works.
#pragma once

#include <string>

namespace vmlocal::cli {

// Called once from main() with argv[0].
void remember_invocation(const char* argv0);

// argv[0] when it holds a '/' (run by path, not found on PATH), else "vmess-local"; quoted for
// a POSIX shell when it needs to be.
std::string invoked_as();

// `text` as one word for a POSIX shell: as it is when it has only safe characters, else in
// single quotes.
std::string shell_word(const std::string& text);

}  // namespace vmlocal::cli
