// AES-128 in the two non-AEAD modes VMess uses: one ECB block (AuthID) and CFB128 streams
// (legacy header, legacy security).
#pragma once

#include <cstdint>

#include "vmlocal/util/bytes.hpp"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace vmlocal::crypto {

// Encrypts exactly one 16-byte block with AES-128 (ECB, no padding).
void aes128_encrypt_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]);

// AES-128-CFB128 as a stream cipher: any length per call, state carries over between calls.
class Aes128Cfb {
 public:
  enum class Direction { kEncrypt, kDecrypt };

  Aes128Cfb(const uint8_t key[16], const uint8_t iv[16], Direction direction);
  ~Aes128Cfb();
  Aes128Cfb(Aes128Cfb&& other) noexcept;
  Aes128Cfb& operator=(Aes128Cfb&& other) noexcept;
  Aes128Cfb(const Aes128Cfb&) = delete;
  Aes128Cfb& operator=(const Aes128Cfb&) = delete;

  // Encrypts or decrypts `data` in place.
  void apply(MutableByteView data);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
};

}  // namespace vmlocal::crypto
