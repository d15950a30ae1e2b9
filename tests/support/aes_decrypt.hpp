// The inverse of crypto::aes128_encrypt_block. Only a server decrypts an AES block (to open an
// AuthID), so it lives with the test servers rather than in the client.
#pragma once

#include <cstdint>

namespace vmlocal::test {

// Decrypts exactly one 16-byte block with AES-128 (ECB, no padding). Throws std::runtime_error
// if OpenSSL fails.
void aes128_decrypt_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]);

}  // namespace vmlocal::test
