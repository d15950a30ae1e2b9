// A VMess user: UUID, command key and legacy alter IDs (§2). All of it is secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "vmlocal/crypto/secret.hpp"

namespace vmlocal::vmess {

using Uuid = crypto::SecretArray<16>;

// Accepts the canonical 8-4-4-4-12 hex form (either case); nullopt otherwise.
std::optional<Uuid> parse_uuid(std::string_view text);

struct Account {
  Uuid id;
  crypto::Key16 cmd_key;        // always from the main id
  std::vector<Uuid> alter_ids;  // alter_id entries, chain order (§2.1); empty for alterId 0

  static Account make(const Uuid& id, uint16_t alter_id_count);
};

}  // namespace vmlocal::vmess
