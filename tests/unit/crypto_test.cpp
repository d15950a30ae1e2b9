#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <new>
#include <set>
#include <string>

#include "vmlocal/crypto/random.hpp"

#include "support/aes_decrypt.hpp"
#include "support/vectors.hpp"
#include "vmlocal/crypto/aead_cipher.hpp"
#include "vmlocal/crypto/aes.hpp"
#include "vmlocal/crypto/checksum.hpp"
#include "vmlocal/crypto/hash.hpp"
#include "vmlocal/util/bytes.hpp"

using namespace vmlocal;
using vmlocal::test::hex;

TEST_CASE("digests match published test values") {
  CHECK(to_hex(crypto::md5({as_bytes("abc")})) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(to_hex(crypto::md5({as_bytes("a"), as_bytes("bc")})) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(to_hex(crypto::sha256({as_bytes("abc")})) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  CHECK(to_hex(crypto::hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 2202 test case 2.
  CHECK(to_hex(crypto::hmac_md5(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))) ==
        "750c783e6ab0b503eaa86e310a5db738");
}

TEST_CASE("checksums match reference values") {
  CHECK(crypto::fnv1a32({}) == 0x811c9dc5u);
  CHECK(crypto::fnv1a32(as_bytes("a")) == 0xe40c292cu);
  CHECK(crypto::crc32(as_bytes("123456789")) == 0xcbf43926u);
}

TEST_CASE("AES-128 block and CFB stream") {
  // FIPS-197 appendix C.1.
  Bytes key = hex("000102030405060708090a0b0c0d0e0f");
  Bytes plain = hex("00112233445566778899aabbccddeeff");
  uint8_t out[16];
  crypto::aes128_encrypt_block(key.data(), plain.data(), out);
  CHECK(to_hex(out) == "69c4e0d86a7b0430d8cdb78070b4c55a");
  uint8_t back[16];
  test::aes128_decrypt_block(key.data(), out, back);
  CHECK(to_hex(back) == to_hex(plain));

  // NIST SP 800-38A F.3.13 (CFB128-AES128), fed in uneven pieces to prove the state carries.
  Bytes k = hex("2b7e151628aed2a6abf7158809cf4f3c");
  Bytes iv = hex("000102030405060708090a0b0c0d0e0f");
  Bytes data = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
  crypto::Aes128Cfb enc(k.data(), iv.data(), crypto::Aes128Cfb::Direction::kEncrypt);
  enc.apply(MutableByteView(data).first(5));
  enc.apply(MutableByteView(data).subspan(5));
  CHECK(to_hex(data) == "3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b");
  crypto::Aes128Cfb dec(k.data(), iv.data(), crypto::Aes128Cfb::Direction::kDecrypt);
  dec.apply(MutableByteView(data).first(17));
  dec.apply(MutableByteView(data).subspan(17));
  CHECK(to_hex(data) == "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
}

TEST_CASE("AEAD ciphers round-trip in place and reject a flipped bit") {
  for (auto algorithm :
       {crypto::AeadAlgorithm::kAes128Gcm, crypto::AeadAlgorithm::kChacha20Poly1305}) {
    Bytes key(algorithm == crypto::AeadAlgorithm::kAes128Gcm ? 16 : 32, 0x42);
    crypto::AeadCipher sealer(algorithm, key);
    crypto::AeadCipher opener(algorithm, key);
    uint8_t nonce[12] = {1, 2, 3};
    std::string text = "the quick brown fox";
    Bytes data(text.begin(), text.end());
    uint8_t tag[16];
    sealer.seal(nonce, data, tag, as_bytes("aad"));
    CHECK(std::string(data.begin(), data.end()) != text);
    Bytes copy = data;
    REQUIRE(opener.open(nonce, copy, tag, as_bytes("aad")));
    CHECK(std::string(copy.begin(), copy.end()) == text);
    copy = data;
    copy[3] ^= 1;
    CHECK_FALSE(opener.open(nonce, copy, tag, as_bytes("aad")));
    copy = data;
    CHECK_FALSE(opener.open(nonce, copy, tag, as_bytes("AAD")));
  }
}

TEST_CASE("AES-128-GCM matches the NIST test vector with the context reused") {
  // GCM spec test case 3 key/iv/plaintext (first 16 bytes of P), checked against OpenSSL's enc.
  Bytes key = hex("feffe9928665731c6d6a8f9467308308");
  Bytes nonce = hex("cafebabefacedbaddecaf888");
  Bytes data =
      hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
          "49a6b525b16aedf5aa0de657ba637b391aafd255");
  crypto::AeadCipher cipher(crypto::AeadAlgorithm::kAes128Gcm, key);
  uint8_t tag[16];
  for (int round = 0; round < 2; ++round) {
    Bytes work = data;
    cipher.seal(nonce.data(), work, tag);
    CHECK(to_hex(work) ==
          "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
          "ac84aa051ba30b396a0aac973d58e091473f5985");
    CHECK(to_hex(tag) == "4d5c2af327cd64a62cf35abd2ba6fab4");
  }
}

TEST_CASE("SystemRandom: distinct streams, every byte value, refills across boundaries") {
  crypto::SystemRandom a;
  crypto::SystemRandom b;
  Bytes x(5000), y(5000);
  a.fill(x);
  b.fill(y);
  CHECK(x != y);  // independently keyed generators
  // Odd-sized draws crossing many pool refills never repeat a 16-byte block.
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    Bytes skip(static_cast<size_t>(i % 37));
    a.fill(skip);
    Bytes block(16);
    a.fill(block);
    seen.insert(to_hex(block));
  }
  CHECK(seen.size() == 2000);
  // A rough uniformity check: each byte value appears in 256 KiB (expected 1024 times each).
  Bytes big(256 * 1024);
  a.fill(big);
  std::array<int, 256> counts{};
  for (uint8_t v : big)
    ++counts[v];
  CHECK(*std::min_element(counts.begin(), counts.end()) > 850);
  CHECK(*std::max_element(counts.begin(), counts.end()) < 1200);
  CHECK(a.uniform(1) == 0);
}

TEST_CASE("SecretArray wipes its bytes when it is destroyed") {
  alignas(crypto::Key32) unsigned char storage[sizeof(crypto::Key32)];
  auto* key = new (storage) crypto::Key32;
  std::fill(key->begin(), key->end(), uint8_t{0xab});
  std::destroy_at(key);
  CHECK(
      std::all_of(std::begin(storage), std::end(storage), [](unsigned char b) { return b == 0; }));

  // An AEAD cipher keeps its key in one, and OpenSSL cleanses the key schedule on free: a
  // cipher that goes out of scope leaves no key behind in its own storage.
  alignas(crypto::AeadCipher) unsigned char cipher_storage[sizeof(crypto::AeadCipher)];
  Bytes key_bytes(16, 0xcd);
  auto* cipher =
      new (cipher_storage) crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, key_bytes);
  std::destroy_at(cipher);
  CHECK(std::search(std::begin(cipher_storage), std::end(cipher_storage), key_bytes.begin(),
                    key_bytes.end()) == std::end(cipher_storage));
}
