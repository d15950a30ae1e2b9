// The session builder: turns an account, a target and a set of drawn secrets into the request
// header bytes plus the uplink writer and downlink reader that go with them. Pure: the clock and
// randomness are parameters, so every byte is reproducible against the reference vectors.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/target_address.hpp"
#include "vmlocal/vmess/account.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/constants.hpp"
#include "vmlocal/vmess/response_reader.hpp"

namespace vmlocal::crypto {
class Random;
}

namespace vmlocal::vmess {

struct RequestParams {
  HeaderMode header_mode = HeaderMode::kAead;
  SecurityType security = SecurityType::kAes128Gcm;
  uint8_t options = option::kChunkStream | option::kChunkMasking | option::kGlobalPadding;
  Command command = Command::kTcp;
  TargetAddress target;  // unused for Command::kMux
};

// Everything random in one request, drawn in one place so tests can pin every byte.
struct RequestSecrets {
  crypto::Key16 body_key{};  // K
  crypto::Key16 body_iv{};   // N
  uint8_t response_v = 0;    // V
  uint8_t padding_len = 0;   // P, 0..15
  std::array<uint8_t, 15> padding{};
  std::array<uint8_t, 4> auth_id_random{};    // AEAD: R
  std::array<uint8_t, 8> connection_nonce{};  // AEAD: C
  int jitter = 0;        // legacy: added to the clock; drawn from 0..30, built from -30..30
  int alter_index = -1;  // legacy: index into Account::alter_ids, -1 for the main id

  // Draws as v2ray's client does: alter_index uniform over the alter IDs when there are any.
  static RequestSecrets draw(crypto::Random& random, const Account& account, HeaderMode mode);
};

struct ClientRequest {
  Bytes header;  // the complete request header as sent
  BodyWriter uplink;
  ResponseReader downlink;
};

struct BuildResult {
  std::optional<ClientRequest> request;
  std::string error;  // set when request is empty, e.g. "domain has characters VMess cannot carry"
};

// now_unix: the clock in Unix seconds. padding_random feeds the uplink's global padding.
BuildResult build_request(const Account& account, const RequestParams& params,
                          const RequestSecrets& secrets, int64_t now_unix,
                          crypto::Random& padding_random);

}  // namespace vmlocal::vmess
