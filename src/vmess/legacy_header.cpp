#include "vmlocal/vmess/legacy_header.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {
namespace {

std::array<uint8_t, 8> be64(int64_t timestamp) {
  std::array<uint8_t, 8> out;
  put_be64(out.data(), static_cast<uint64_t>(timestamp));
  return out;
}

}  // namespace

crypto::Digest16 legacy_auth(ByteView id, int64_t timestamp) {
  const auto t = be64(timestamp);
  return crypto::hmac_md5(id, t);
}

crypto::Digest16 legacy_header_iv(int64_t timestamp) {
  const auto t = be64(timestamp);
  return crypto::md5({t, t, t, t});
}

void seal_legacy_header(ByteView id, ByteView cmd_key, int64_t timestamp, ByteView instruction,
                        Bytes& out) {
  if (cmd_key.size() != 16) throw std::invalid_argument("cmdKey must be 16 bytes");
  const auto auth = legacy_auth(id, timestamp);
  const auto iv = legacy_header_iv(timestamp);
  const size_t start = out.size();
  out.resize(start + kAuthSize + instruction.size());
  uint8_t* p = std::copy(auth.begin(), auth.end(), out.data() + start);
  // Encrypted in place in the output, so the plaintext never sits in an unwiped buffer. The CFB
  // stream is fresh and used for the instruction only.
  std::copy(instruction.begin(), instruction.end(), p);
  crypto::Aes128Cfb(cmd_key.data(), iv.data(), crypto::Aes128Cfb::Direction::kEncrypt)
      .apply({p, instruction.size()});
}

}  // namespace vmlocal::vmess
