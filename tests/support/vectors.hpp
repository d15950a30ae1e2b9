// Loads the known-answer vectors in tests/vectors (copied from v2ray 4.34's own output).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::test {

// Parses tests/vectors/<name> (e.g. "aead.json"); throws if it is missing or malformed.
const nlohmann::json& load_vectors(std::string_view name);

// Hex string (possibly empty) to bytes; throws on bad hex.
Bytes hex(std::string_view text);
inline Bytes hex(const std::string& text) {
  return hex(std::string_view(text));
}
inline Bytes hex(const char* text) {
  return hex(std::string_view(text));
}
Bytes hex(const nlohmann::json& node);

}  // namespace vmlocal::test
