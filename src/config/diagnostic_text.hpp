// Small text helpers for profile error messages: quoting user input and "did you mean".
// Private to src/config.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace vmlocal::config {

// `text` in double quotes, with control characters, quotes and backslashes escaped and long
// input shortened, so an error line stays one readable line whatever the user wrote. UUIDs in
// it are hidden (see redact_uuids).
std::string quote(std::string_view text);

// `text` with every UUID-shaped run replaced by "<UUID hidden>". A UUID is the credential, and
// users paste it into the wrong place (a key name, server.address, a listen entry); an error
// message must not carry it into a terminal log or a support chat.
std::string redact_uuids(std::string_view text);

// The candidate closest to `word` (ignoring case), or "" when none is close enough to be a
// plausible typo. Prefixes count as close ("warning" -> "warn").
std::string_view closest_match(std::string_view word, std::span<const std::string_view> candidates);

// `path` as a shell word, single-quoted only when it needs to be ("chmod 600 'my file.toml'").
std::string shell_quote(std::string_view path);

}  // namespace vmlocal::config
