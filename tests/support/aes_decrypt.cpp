#include "support/aes_decrypt.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace vmlocal::test {

void aes128_decrypt_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  const bool ok = ctx != nullptr &&
                  EVP_DecryptInit_ex(ctx, EVP_aes_128_ecb(), nullptr, key, nullptr) == 1 &&
                  EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
                  EVP_DecryptUpdate(ctx, out, &len, in, 16) == 1 && len == 16;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) throw std::runtime_error("OpenSSL AES-128-ECB decrypt failed");
}

}  // namespace vmlocal::test
