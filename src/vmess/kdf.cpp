#include "vmlocal/vmess/kdf.hpp"

#include <algorithm>
#include <vector>

#include "vmlocal/crypto/hash.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {
namespace {

constexpr size_t kBlockSize = 64;

// H_level(message). Level 0 is HMAC-SHA256 keyed with the KDF root label; level i is textbook
// HMAC built on H_(i-1) and keyed with path[i-1]. Each H_(i-1) call is a full fresh evaluation,
// so plain recursion is the simplest faithful form (at most ~50 SHA-256 blocks in VMess).
crypto::Key32 nested_hash(const std::vector<ByteView>& path, size_t level, ByteView message) {
  crypto::Key32 out;
  if (level == 0) {
    auto d = crypto::hmac_sha256(as_bytes(kdf_label::kRoot), message);
    std::copy(d.begin(), d.end(), out.begin());
    crypto::secure_wipe(d.data(), d.size());
    return out;
  }
  ByteView key = path[level - 1];
  crypto::SecretArray<kBlockSize> padded{};
  if (key.size() > kBlockSize) {
    crypto::Key32 hashed = nested_hash(path, level - 1, key);
    std::copy(hashed.begin(), hashed.end(), padded.begin());
  } else {
    std::copy(key.begin(), key.end(), padded.begin());
  }

  std::vector<uint8_t> inner_input(kBlockSize + message.size());
  for (size_t i = 0; i < kBlockSize; ++i)
    inner_input[i] = padded[i] ^ 0x36;
  std::copy(message.begin(), message.end(), inner_input.begin() + kBlockSize);
  crypto::Key32 inner = nested_hash(path, level - 1, inner_input);
  crypto::secure_wipe(inner_input.data(), inner_input.size());

  crypto::SecretArray<kBlockSize + 32> outer_input{};
  for (size_t i = 0; i < kBlockSize; ++i)
    outer_input[i] = padded[i] ^ 0x5c;
  std::copy(inner.begin(), inner.end(), outer_input.begin() + kBlockSize);
  return nested_hash(path, level - 1, outer_input);
}

}  // namespace

crypto::Key32 kdf(ByteView key, std::initializer_list<ByteView> path) {
  std::vector<ByteView> elements(path);
  return nested_hash(elements, elements.size(), key);
}

crypto::Key16 kdf16(ByteView key, std::initializer_list<ByteView> path) {
  crypto::Key32 full = kdf(key, path);
  crypto::Key16 out;
  std::copy_n(full.begin(), 16, out.begin());
  return out;
}

}  // namespace vmlocal::vmess
