// Base64 (RFC 4648 §4, standard alphabet) for the WebSocket handshake keys and for public-key
// pins in the profile; base64url (§5) for WebSocket early data; and, through libsodium, the
// lenient decoder share links need. The first ones are not constant-time: nothing secret
// passes through them.
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
// vmess:// links and subscriptions as panels write them: the standard (RFC 4648 §4) or the
// URL-safe (§5) alphabet, with or without '=' padding, with spaces and line breaks anywhere
// (subscriptions are often wrapped at 76 columns). libsodium's constant-time decoder, as the
// text holds user IDs. nullopt on any other character or an impossible length.
std::optional<Bytes> base64_decode_lenient(std::string_view text);

}  // namespace vmlocal::crypto
