#include "vmlocal/crypto/hash.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "vmlocal/crypto/secret.hpp"

namespace vmlocal::crypto {
namespace {

// Every tunnel's handshake runs ~40 HMAC-SHA256s (the nested VMess KDF). OpenSSL 3's one-shot
// HMAC() and EVP_sha256() look the algorithm up and allocate a context on each call, which cost
// far more than hashing the few blocks involved; so the algorithms are fetched once, the digest
// context is reused per thread, and HMAC is built from the digest (RFC 2104).
const EVP_MD* fetch(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) throw std::runtime_error(std::string("OpenSSL lacks ") + name);
  return md;
}
const EVP_MD* md5_md() {
  static const EVP_MD* const md = fetch("MD5");
  return md;
}
const EVP_MD* sha1_md() {
  static const EVP_MD* const md = fetch("SHA1");
  return md;
}
const EVP_MD* sha256_md() {
  static const EVP_MD* const md = fetch("SHA256");
  return md;
}

EVP_MD_CTX* thread_context() {
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                                 EVP_MD_CTX_free);
  if (!ctx) throw std::runtime_error("OpenSSL: out of memory");
  return ctx.get();
}

template <size_t N>
std::array<uint8_t, N> digest(const EVP_MD* md, std::initializer_list<ByteView> parts) {
  std::array<uint8_t, N> out{};
  EVP_MD_CTX* ctx = thread_context();
  unsigned int len = 0;
  bool ok = EVP_DigestInit_ex(ctx, md, nullptr) == 1;
  for (ByteView part : parts) {
    ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == N;
  if (!ok) throw std::runtime_error("OpenSSL digest failed");
  return out;
}

// HMAC over a digest with a 64-byte block (MD5, SHA-256).
template <size_t N>
std::array<uint8_t, N> hmac(const EVP_MD* md, ByteView key, ByteView message) {
  constexpr size_t kBlock = 64;
  SecretArray<kBlock> padded{};
  if (key.size() > kBlock) {
    auto hashed = digest<N>(md, {key});
    std::copy(hashed.begin(), hashed.end(), padded.begin());
    secure_wipe(hashed.data(), hashed.size());
  } else {
    std::copy(key.begin(), key.end(), padded.begin());
  }
  SecretArray<kBlock> pad;
  for (size_t i = 0; i < kBlock; ++i)
    pad[i] = padded[i] ^ 0x36;
  auto inner = digest<N>(md, {pad, message});
  for (size_t i = 0; i < kBlock; ++i)
    pad[i] = padded[i] ^ 0x5c;
  auto out = digest<N>(md, {pad, inner});
  secure_wipe(inner.data(), inner.size());
  return out;
}

}  // namespace

Digest16 md5(std::initializer_list<ByteView> parts) {
  return digest<16>(md5_md(), parts);
}
Digest32 sha256(std::initializer_list<ByteView> parts) {
  return digest<32>(sha256_md(), parts);
}
Digest20 sha1(std::initializer_list<ByteView> parts) {
  return digest<20>(sha1_md(), parts);
}
Digest16 hmac_md5(ByteView key, ByteView message) {
  return hmac<16>(md5_md(), key, message);
}
Digest32 hmac_sha256(ByteView key, ByteView message) {
  return hmac<32>(sha256_md(), key, message);
}

}  // namespace vmlocal::crypto
