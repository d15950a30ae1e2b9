#include "vmlocal/crypto/aes.hpp"

#include <openssl/evp.h>

#include <stdexcept>
#include <utility>

namespace vmlocal::crypto {

void aes128_encrypt_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  bool ok = ctx != nullptr &&
            EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), nullptr, key, nullptr) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
            EVP_EncryptUpdate(ctx, out, &len, in, 16) == 1 && len == 16;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) throw std::runtime_error("OpenSSL AES-128-ECB failed");
}

Aes128Cfb::Aes128Cfb(const uint8_t key[16], const uint8_t iv[16], Direction direction)
    : ctx_(EVP_CIPHER_CTX_new()) {
  if (ctx_ == nullptr || EVP_CipherInit_ex(ctx_, EVP_aes_128_cfb128(), nullptr, key, iv,
                                           direction == Direction::kEncrypt ? 1 : 0) != 1) {
    EVP_CIPHER_CTX_free(ctx_);
    throw std::runtime_error("OpenSSL AES-128-CFB init failed");
  }
}

Aes128Cfb::~Aes128Cfb() {
  EVP_CIPHER_CTX_free(ctx_);
}  // _free cleanses the key schedule

Aes128Cfb::Aes128Cfb(Aes128Cfb&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

Aes128Cfb& Aes128Cfb::operator=(Aes128Cfb&& other) noexcept {
  if (this != &other) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

void Aes128Cfb::apply(MutableByteView data) {
  if (data.empty()) return;
  int len = 0;
  if (EVP_CipherUpdate(ctx_, data.data(), &len, data.data(), static_cast<int>(data.size())) != 1 ||
      static_cast<size_t>(len) != data.size()) {
    throw std::runtime_error("OpenSSL AES-128-CFB update failed");
  }
}

}  // namespace vmlocal::crypto
