#include "vmlocal/crypto/base64.hpp"

#include <sodium.h>

#include <array>

#include "vmlocal/crypto/random.hpp"

namespace vmlocal::crypto {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_reverse() {
  std::array<int8_t, 256> table{};
  for (auto& v : table)
    v = -1;
  for (size_t i = 0; i < kAlphabet.size(); ++i)
    table[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return table;
}
constexpr std::array<int8_t, 256> kReverse = make_reverse();

}  // namespace

std::string base64_encode(ByteView bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= uint32_t{bytes[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<Bytes> base64_decode(std::string_view text) {
  size_t len = text.size();
  if (len % 4 == 0 && len >= 4) {
    if (text[len - 1] == '=') --len;
    if (text[len - 1] == '=') --len;
  }
  if (len % 4 == 1) return std::nullopt;
  Bytes out;
  out.reserve(len * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    const int8_t v = kReverse[static_cast<uint8_t>(text[i])];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return std::nullopt;  // leftover bits must be zero (canonical encoding)
  return out;
}

std::string base64url_encode(ByteView bytes) {
  ensure_initialized();
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kVariant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<Bytes> base64url_decode(std::string_view text) {
  ensure_initialized();
  Bytes out(text.size() * 3 / 4 + 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::optional<Bytes> base64_decode_lenient(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  bool url_safe = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    url_safe = url_safe || c == '-' || c == '_';
    compact += c;
  }
  // Padding is optional here, so it is dropped and the unpadded variants decode the rest.
  size_t pad = 0;
  while (pad < 2 && pad < compact.size() && compact[compact.size() - 1 - pad] == '=')
    ++pad;
  compact.resize(compact.size() - pad);
  if (compact.empty()) return std::nullopt;
  Bytes out(compact.size() * 3 / 4 + 3);
  size_t length = 0;
  const int variant = url_safe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
                               : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
  const int rc = sodium_base642bin(out.data(), out.size(), compact.data(), compact.size(), nullptr,
                                   &length, nullptr, variant);
  sodium_memzero(compact.data(), compact.size());
  if (rc != 0) {
    sodium_memzero(out.data(), out.size());
    return std::nullopt;
  }
  out.resize(length);
  return out;
}

}  // namespace vmlocal::crypto
