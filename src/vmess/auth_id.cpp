#include "vmlocal/vmess/auth_id.hpp"

#include <algorithm>

#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/crypto/checksum.hpp"
#include "vmlocal/vmess/kdf.hpp"

namespace vmlocal::vmess {
namespace {
constexpr size_t kCrcOffset = 8 + kAuthIdRandomSize;  // the CRC covers BE64(T) || R
}  // namespace

crypto::Key16 auth_id_key(ByteView cmd_key) {
  return kdf16(cmd_key, {as_bytes(kdf_label::kAuthIdEncryption)});
}

std::array<uint8_t, kAuthSize> auth_id_plaintext(int64_t timestamp, const AuthIdRandom& random) {
  std::array<uint8_t, kAuthSize> plain{};
  put_be64(plain.data(), static_cast<uint64_t>(timestamp));
  std::copy(random.begin(), random.end(), plain.begin() + 8);
  put_be32(plain.data() + kCrcOffset, crypto::crc32({plain.data(), kCrcOffset}));
  return plain;
}

AuthId make_auth_id(ByteView cmd_key, int64_t timestamp, const AuthIdRandom& random) {
  crypto::Key16 key = auth_id_key(cmd_key);
  auto plain = auth_id_plaintext(timestamp, random);
  AuthId out;
  crypto::aes128_encrypt_block(key.data(), plain.data(), out.data());
  return out;
}

}  // namespace vmlocal::vmess
