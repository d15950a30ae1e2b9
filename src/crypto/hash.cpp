#include "vmlocal/crypto/hash.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace vmlocal::crypto {
namespace {

template <size_t N>
std::array<uint8_t, N> digest(const EVP_MD* md, std::initializer_list<ByteView> parts) {
  std::array<uint8_t, N> out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int len = 0;
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, md, nullptr) == 1;
  for (ByteView part : parts) {
    ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == N;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("OpenSSL digest failed");
  return out;
}

template <size_t N>
std::array<uint8_t, N> hmac(const EVP_MD* md, ByteView key, ByteView message) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  if (HMAC(md, key.data(), static_cast<int>(key.size()), message.data(), message.size(), out.data(),
           &len) == nullptr ||
      len != N) {
    throw std::runtime_error("OpenSSL HMAC failed");
  }
  return out;
}

}  // namespace

Digest16 md5(std::initializer_list<ByteView> parts) {
  return digest<16>(EVP_md5(), parts);
}
Digest32 sha256(std::initializer_list<ByteView> parts) {
  return digest<32>(EVP_sha256(), parts);
}
Digest16 hmac_md5(ByteView key, ByteView message) {
  return hmac<16>(EVP_md5(), key, message);
}
Digest32 hmac_sha256(ByteView key, ByteView message) {
  return hmac<32>(EVP_sha256(), key, message);
}

}  // namespace vmlocal::crypto
