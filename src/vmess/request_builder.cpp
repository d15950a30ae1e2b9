#include "vmlocal/vmess/request_builder.hpp"

#include <algorithm>
#include <utility>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/vmess/aead_header.hpp"
#include "vmlocal/vmess/auth_id.hpp"
#include "vmlocal/vmess/instruction.hpp"
#include "vmlocal/vmess/legacy_header.hpp"
#include "vmlocal/vmess/response_keys.hpp"

namespace vmlocal::vmess {
namespace {

Instruction make_instruction(const RequestParams& params, const RequestSecrets& secrets) {
  Instruction ins;
  ins.body_iv = secrets.body_iv;
  ins.body_key = secrets.body_key;
  ins.response_v = secrets.response_v;
  ins.options = params.options;
  ins.padding_len = secrets.padding_len;
  ins.security = params.security;
  ins.command = params.command;
  if (params.command != Command::kMux) ins.target = params.target;
  ins.padding = secrets.padding;
  return ins;
}

BuildResult failure(std::string_view why) {
  BuildResult result;
  result.error = why;
  return result;
}

}  // namespace

RequestSecrets RequestSecrets::draw(crypto::Random& random, const Account& account,
                                    HeaderMode mode) {
  // v2ray draws K, N, V in that order; the order here only matters to scripted tests.
  RequestSecrets s;
  random.fill(s.body_key);
  random.fill(s.body_iv);
  random.fill({&s.response_v, 1});
  s.padding_len = static_cast<uint8_t>(random.uniform(kMaxPaddingLen + 1));
  random.fill(MutableByteView(s.padding).first(s.padding_len));
  if (mode == HeaderMode::kAead) {
    random.fill(s.auth_id_random);
    random.fill(s.connection_nonce);
  } else {
    constexpr uint32_t kJitterSpan = kLegacyJitterMax - kLegacyJitterMin + 1;
    s.jitter = kLegacyJitterMin + static_cast<int>(random.uniform(kJitterSpan));
    // v2ray never authenticates with the main id once alter ids exist (§5).
    if (!account.alter_ids.empty()) {
      s.alter_index =
          static_cast<int>(random.uniform(static_cast<uint32_t>(account.alter_ids.size())));
    }
  }
  return s;
}

BuildResult build_request(const Account& account, const RequestParams& params,
                          const RequestSecrets& secrets, int64_t now_unix,
                          crypto::Random& padding_random) {
  const Instruction instruction = make_instruction(params, secrets);
  if (auto problem = instruction_problem(instruction)) return failure(*problem);
  const InstructionBytes plain = encode_instruction(instruction);

  Bytes header;
  if (params.header_mode == HeaderMode::kAead) {
    // 4.34 reads the clock again for the AuthID: the exact second, never the jittered one.
    const AuthId auth_id = make_auth_id(account.cmd_key, now_unix, secrets.auth_id_random);
    header.reserve(kAeadHeaderOverhead + plain.size);
    seal_aead_header(account.cmd_key, auth_id, secrets.connection_nonce, plain.view(), header);
  } else {
    if (secrets.jitter < -kLegacyJitterMax || secrets.jitter > kLegacyJitterMax) {
      return failure("legacy timestamp jitter outside -30..30");
    }
    if (secrets.alter_index < -1 ||
        secrets.alter_index >= static_cast<int>(account.alter_ids.size())) {
      return failure("alter id index out of range");
    }
    const Uuid& id = secrets.alter_index < 0
                         ? account.id
                         : account.alter_ids[static_cast<size_t>(secrets.alter_index)];
    header.reserve(kAuthSize + plain.size);
    seal_legacy_header(id, account.cmd_key, now_unix + secrets.jitter, plain.view(), header);
  }

  const Transfer transfer = params.command == Command::kUdp ? Transfer::kPacket : Transfer::kStream;
  const ResponseKeys response =
      derive_response_keys(params.header_mode, secrets.body_key, secrets.body_iv);
  BuildResult result;
  result.request.emplace(ClientRequest{
      std::move(header),
      BodyWriter(params.security, params.options, transfer, secrets.body_key, secrets.body_iv,
                 padding_random),
      ResponseReader(params.header_mode, params.security, params.options, transfer, response.key,
                     response.iv, secrets.response_v),
  });
  return result;
}

}  // namespace vmlocal::vmess
