// AES-128-GCM and ChaCha20-Poly1305 IETF (both OpenSSL) behind one type, so the chunk
// code never branches on the cipher. The context is keyed once; each call sets only the nonce.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/util/bytes.hpp"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace vmlocal::crypto {

enum class AeadAlgorithm : uint8_t { kAes128Gcm, kChacha20Poly1305 };

class AeadCipher {
 public:
  static constexpr size_t kTagSize = 16;
  static constexpr size_t kNonceSize = 12;

  // key: 16 bytes for AES-128-GCM, 32 bytes for ChaCha20-Poly1305.
  AeadCipher(AeadAlgorithm algorithm, ByteView key);
  ~AeadCipher();
  AeadCipher(AeadCipher&& other) noexcept;
  AeadCipher& operator=(AeadCipher&& other) noexcept;
  AeadCipher(const AeadCipher&) = delete;
  AeadCipher& operator=(const AeadCipher&) = delete;

  AeadAlgorithm algorithm() const { return algorithm_; }

  // Encrypts `data` in place and writes the 16-byte tag.
  void seal(const uint8_t nonce[kNonceSize], MutableByteView data, uint8_t tag[kTagSize],
            ByteView aad = {});
  // Decrypts `data` in place; false (and `data` unspecified) when the tag does not verify.
  [[nodiscard]] bool open(const uint8_t nonce[kNonceSize], MutableByteView data,
                          const uint8_t tag[kTagSize], ByteView aad = {});

 private:
  void ensure_mode(int encrypt);

  AeadAlgorithm algorithm_;
  Key32 key_{};
  EVP_CIPHER_CTX* ctx_ = nullptr;
  int mode_ = -1;  // 1 encrypt, 0 decrypt, -1 not keyed yet
};

}  // namespace vmlocal::crypto
