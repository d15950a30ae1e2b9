// Base64 (RFC 4648 §4, standard alphabet) for the WebSocket handshake keys and for public-key
// pins in the profile; base64url (§5) for WebSocket early data. Not constant-time: nothing secret
// passes through it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::crypto {

// With '=' padding.
std::string base64_encode(ByteView bytes);
// Accepts the standard alphabet with or without '=' padding; nullopt on any other character,
// a wrong length, or non-zero bits after the last whole byte.
std::optional<Bytes> base64_decode(std::string_view text);

// RFC 4648 §5 "base64url" without padding (Go's base64.RawURLEncoding), on libsodium: the
// encoding of WebSocket early data (v2fly and Xray transport docs).
std::string base64url_encode(ByteView bytes);
// Only the URL-safe alphabet, without padding; nullopt otherwise.
std::optional<Bytes> base64url_decode(std::string_view text);

}  // namespace vmlocal::crypto
