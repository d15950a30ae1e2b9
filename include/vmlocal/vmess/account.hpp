// A VMess user: UUID, command key and legacy alter IDs (§2). All of it is secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmlocal/crypto/secret.hpp"

namespace vmlocal::vmess {

using Uuid = crypto::SecretArray<16>;

// Accepts the canonical 8-4-4-4-12 hex form (either case); nullopt otherwise.
std::optional<Uuid> parse_uuid(std::string_view text);

// A user ID as v2ray/Xray configs and share links write it: the 8-4-4-4-12 form, the same 32
// hex digits without dashes, or any other text of 1..30 bytes, which Xray (common/uuid
// ParseString) maps to a name-based UUID: version 5 (RFC 4122 §4.3), SHA-1 over the all-zero
// namespace followed by the text. "example" -> feb54431-301b-52bb-a6dd-e1e93e81bb9e. nullopt
// for anything else (31 bytes and more that are not a UUID, or empty).
std::optional<Uuid> parse_user_id(std::string_view text);

// A user ID that parse_user_id takes as Xray text but that looks like what copying left of a
// UUID: only hex digits and dashes, either the start of the 8-4-4-4-12 form (at least the first
// group and its dash) or 16..31 digits without dashes. v2ray (which has no text IDs) refuses
// it; Xray maps it, so the server would see another user. nullopt when it does not look cut,
// otherwise the rest of a warning that names its shape and never its value: "looks like a
// cut-off UUID (23 characters: hex digits in groups 8-4-4-4); v2ray needs ...".
std::optional<std::string> cut_uuid_warning(std::string_view text);

// The canonical lower-case 8-4-4-4-12 form (for writing a profile; never for logs).
std::string format_uuid(const Uuid& uuid);

struct Account {
  Uuid id;
  crypto::Key16 cmd_key;        // always from the main id
  std::vector<Uuid> alter_ids;  // alter_id entries, chain order (§2.1); empty for alterId 0

  static Account make(const Uuid& id, uint16_t alter_id_count);
};

}  // namespace vmlocal::vmess
