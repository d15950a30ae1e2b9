// What `vmess-local import ARGUMENT` was given: standard input, a subscription URL, pasted text
// (a link, a subscription's lines, a v2rayN body without its scheme) or a file's path. Pure:
// whether a path names a file is the caller's question (`names_a_file`).
//
// A pasted link is never taken for a path, so it is never echoed in "cannot read PATH": the
// link holds the user ID, which messages never show. Text is what contains "://" (any scheme,
// any case: RFC 3986 §3.1), has spaces or line breaks around it, is too long for a path
// (NAME_MAX 255 bytes a component, PATH_MAX 4096 in all), is base64 of a JSON object's start
// (v2rayN's body) or has the shape ID@HOST:PORT — unless it names an existing file.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace vmlocal::import {

enum class ArgumentKind { kStandardInput, kUrl, kText, kFile };

struct Argument {
  ArgumentKind kind = ArgumentKind::kFile;
  // kUrl: the URL without surrounding spaces; kText: the argument (import_text trims it);
  // kFile: the path.
  std::string value;
  // Where the profile came from, for its header comment: "a vmess:// link", "the text given",
  // "the subscription at https://HOST" (no path, query or user info: they may carry a token),
  // "standard input" or the path. Never a user ID, except a path the user named.
  std::string source;
};

Argument classify_argument(std::string_view argument,
                           const std::function<bool(const std::string&)>& names_a_file);

// A path for "cannot read PATH": as given (control bytes escaped), or, when it looks like it
// holds a user ID (a UUID or the start of one, 16 hex digits or more), a description instead.
std::string path_for_message(std::string_view path);

}  // namespace vmlocal::import
