#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/vectors.hpp"
#include "vmlocal/crypto/hash.hpp"
#include "vmlocal/crypto/shake128.hpp"
#include "vmlocal/util/bytes.hpp"

using namespace vmlocal;
using vmlocal::test::hex;

namespace {

// Squeezes `total` bytes in pieces of the given sizes, cycling through them.
Bytes squeeze_in_pieces(crypto::Shake128& xof, size_t total, const std::vector<size_t>& pieces) {
  Bytes out(total);
  size_t at = 0;
  for (size_t i = 0; at < total; ++i) {
    const size_t n = std::min(pieces[i % pieces.size()], total - at);
    xof.squeeze(MutableByteView(out).subspan(at, n));
    at += n;
  }
  return out;
}

const std::vector<std::vector<size_t>> kPiecePatterns = {
    {1}, {2}, {3}, {167}, {169}, {1, 3, 167, 169}, {5, 168, 7}, {1000},
};

}  // namespace

TEST_CASE("SHAKE128 matches the FIPS 202 empty-message value") {
  crypto::Shake128 xof({});
  uint8_t out[32];
  xof.squeeze(out);
  CHECK(to_hex(out) == "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26");
}

TEST_CASE("SHAKE128 streams from bodies.json, squeezed two bytes at a time and in odd pieces") {
  const auto& streams = test::load_vectors("bodies.json")["shake128"];
  REQUIRE(streams.size() == 3);
  for (const auto& stream : streams) {
    CAPTURE(stream["name"].get<std::string>());
    const Bytes input = hex(stream["input"]);
    const Bytes expected = hex(stream["output"]);

    crypto::Shake128 by_word(input);
    Bytes words;
    for (size_t i = 0; i < expected.size(); i += 2) {
      const uint16_t w = by_word.next_be16();
      words.push_back(static_cast<uint8_t>(w >> 8));
      words.push_back(static_cast<uint8_t>(w));
    }
    CHECK(to_hex(words) == to_hex(expected));

    for (const auto& pattern : kPiecePatterns) {
      crypto::Shake128 xof(input);
      CHECK(to_hex(squeeze_in_pieces(xof, expected.size(), pattern)) == to_hex(expected));
    }
  }
}

TEST_CASE("SHAKE128 keeps one stream across many output blocks, whatever the step size") {
  // References from Python's hashlib.shake_128 (OpenSSL): SHA-256 of the first 1000 output bytes,
  // and the bytes straddling the first (168) and second (336) block boundaries.
  struct Reference {
    Bytes input;
    std::string sha256_of_1000;
    std::string at_160;
    std::string at_330;
  };
  Bytes counting(200);
  for (size_t i = 0; i < counting.size(); ++i)
    counting[i] = static_cast<uint8_t>(i);
  const std::vector<Reference> references = {
      {hex("101112131415161718191a1b1c1d1e1f"),
       "091a114bf9eea6cc86b81440a1e768ee33939debb2f6651b54c3b91b59c488b8",
       "8b6ebf6c0050eaf25a8c01d3893e84b0", "2dbc03d72d18f3e2a838a8279ff5d13d"},
      {{},
       "218ae7a5107911c8702edb40ec361ebbe57b6b6288287889361baabdb4d5cc9c",
       "aee7eef47cb0fca9767be1fda69419df",
       "aff268e0b1700affc6820b523a3d9171"},
      // Inputs longer than, equal to and one short of the rate exercise the absorb path and the
      // case where both padding bits land in the same byte.
      {counting, "0288b3302c699440f8dcc1c45844840cd26402ac2c3e105083f683dd76000a6c",
       "fba4bad349b3f98d635b9775fc9cb102", "ae74a1e11e5c62dfab35b73cd2ecf088"},
      {Bytes(168, 0), "c9bed11d4a6dc10d358d6144f5e58e3bcd06ad1c71dad9ba82e7b2d58ffe04b7",
       "93eea55755094f1791026cfe172f97a2", "07894a1a0fd31178324a0ccb16a9e384"},
      {Bytes(167, 0), "b9276680e39cd1d2afe21550b816e24c772ca1294dbf6e9538547d45fe3f3cfb",
       "631171176eeb3b52b8e87252de7f9a85", "8d451b597f0b521c948f5d802ffe0bce"},
  };
  for (const auto& ref : references) {
    CAPTURE(ref.input.size());
    for (const auto& pattern : kPiecePatterns) {
      CAPTURE(pattern.front());
      crypto::Shake128 xof(ref.input);
      const Bytes out = squeeze_in_pieces(xof, 1000, pattern);
      CHECK(to_hex(crypto::sha256({out})) == ref.sha256_of_1000);
      CHECK(to_hex(ByteView(out).subspan(160, 16)) == ref.at_160);
      CHECK(to_hex(ByteView(out).subspan(330, 16)) == ref.at_330);
    }
    // next_be16 after an odd-sized squeeze straddles a block boundary through the slow path.
    crypto::Shake128 odd(ref.input);
    Bytes skip(167);
    odd.squeeze(skip);
    const uint16_t straddling = odd.next_be16();
    crypto::Shake128 plain(ref.input);
    const Bytes out = squeeze_in_pieces(plain, 169, {169});
    CHECK(straddling == get_be16(out.data() + 167));
  }
}

TEST_CASE("SHAKE128 moves keep the stream position") {
  const Bytes input = hex("101112131415161718191a1b1c1d1e1f");
  crypto::Shake128 reference(input);
  Bytes expected(300);
  reference.squeeze(expected);

  crypto::Shake128 first(input);
  Bytes out(300);
  first.squeeze(MutableByteView(out).first(100));
  crypto::Shake128 second(std::move(first));
  second.squeeze(MutableByteView(out).subspan(100, 100));
  crypto::Shake128 third({});
  third = std::move(second);
  third.squeeze(MutableByteView(out).subspan(200));
  CHECK(to_hex(out) == to_hex(expected));
}
