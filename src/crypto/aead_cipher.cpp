#include "vmlocal/crypto/aead_cipher.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "vmlocal/crypto/random.hpp"

namespace vmlocal::crypto {

AeadCipher::AeadCipher(AeadAlgorithm algorithm, ByteView key) : algorithm_(algorithm) {
  const size_t want = algorithm == AeadAlgorithm::kAes128Gcm ? 16 : 32;
  if (key.size() != want) throw std::invalid_argument("AEAD key has the wrong size");
  std::copy(key.begin(), key.end(), key_.begin());
  if (algorithm == AeadAlgorithm::kAes128Gcm) {
    ctx_ = EVP_CIPHER_CTX_new();
    if (ctx_ == nullptr) throw std::runtime_error("OpenSSL: out of memory");
  } else {
    ensure_initialized();
  }
}

AeadCipher::~AeadCipher() {
  EVP_CIPHER_CTX_free(ctx_);
}

AeadCipher::AeadCipher(AeadCipher&& other) noexcept
    : algorithm_(other.algorithm_),
      key_(other.key_),
      ctx_(std::exchange(other.ctx_, nullptr)),
      mode_(std::exchange(other.mode_, -1)) {}

AeadCipher& AeadCipher::operator=(AeadCipher&& other) noexcept {
  if (this != &other) {
    EVP_CIPHER_CTX_free(ctx_);
    algorithm_ = other.algorithm_;
    key_ = other.key_;
    ctx_ = std::exchange(other.ctx_, nullptr);
    mode_ = std::exchange(other.mode_, -1);
  }
  return *this;
}

void AeadCipher::ensure_mode(int encrypt) {
  if (mode_ == encrypt) return;
  // Key schedule once per direction; later calls only set the nonce.
  if (EVP_CipherInit_ex(ctx_, EVP_aes_128_gcm(), nullptr, key_.data(), nullptr, encrypt) != 1) {
    throw std::runtime_error("OpenSSL AES-128-GCM init failed");
  }
  mode_ = encrypt;
}

void AeadCipher::seal(const uint8_t nonce[kNonceSize], MutableByteView data, uint8_t tag[kTagSize],
                      ByteView aad) {
  if (algorithm_ == AeadAlgorithm::kChacha20Poly1305) {
    unsigned long long tag_len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(data.data(), tag, &tag_len, data.data(),
                                                       data.size(), aad.data(), aad.size(), nullptr,
                                                       nonce, key_.data());
    return;
  }
  ensure_mode(1);
  int len = 0;
  bool ok = EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 1) == 1;
  if (ok && !aad.empty()) {
    ok = EVP_CipherUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1;
  }
  ok = ok &&
       EVP_CipherUpdate(ctx_, data.data(), &len, data.data(), static_cast<int>(data.size())) == 1;
  ok = ok && EVP_CipherFinal_ex(ctx_, data.data() + data.size(), &len) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, kTagSize, tag) == 1;
  if (!ok) throw std::runtime_error("OpenSSL AES-128-GCM seal failed");
}

bool AeadCipher::open(const uint8_t nonce[kNonceSize], MutableByteView data,
                      const uint8_t tag[kTagSize], ByteView aad) {
  if (algorithm_ == AeadAlgorithm::kChacha20Poly1305) {
    return crypto_aead_chacha20poly1305_ietf_decrypt_detached(data.data(), nullptr, data.data(),
                                                              data.size(), tag, aad.data(),
                                                              aad.size(), nonce, key_.data()) == 0;
  }
  ensure_mode(0);
  int len = 0;
  bool ok = EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 0) == 1;
  if (ok && !aad.empty()) {
    ok = EVP_CipherUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1;
  }
  ok = ok &&
       EVP_CipherUpdate(ctx_, data.data(), &len, data.data(), static_cast<int>(data.size())) == 1;
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, kTagSize, const_cast<uint8_t*>(tag)) == 1;
  return ok && EVP_CipherFinal_ex(ctx_, data.data() + data.size(), &len) == 1;
}

}  // namespace vmlocal::crypto
