#include "vmlocal/vmess/account.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "vmlocal/crypto/hash.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Copies an MD5 result into a self-wiping array and wipes the temporary.
void take_digest(crypto::Digest16& digest, crypto::SecretArray<16>& out) {
  std::copy(digest.begin(), digest.end(), out.begin());
  crypto::secure_wipe(digest.data(), digest.size());
}

// §2.1: MD5(prev || alter salt [|| retry salt]*), extended until it differs from prev.
Uuid next_alter_id(const Uuid& prev) {
  std::string salts(id_salt::kAlterId);
  for (;;) {
    auto digest = crypto::md5({ByteView(prev), as_bytes(salts)});
    if (!std::equal(digest.begin(), digest.end(), prev.begin())) {
      Uuid next;
      take_digest(digest, next);
      return next;
    }
    // Practically unreachable, but v2ray keeps extending the same input; so must we.
    salts += id_salt::kAlterIdRetry;
  }
}

// Xray's limit: longer text is taken for a mistyped UUID rather than a name.
constexpr size_t kMaxUserIdText = 30;

}  // namespace

std::optional<Uuid> parse_uuid(std::string_view text) {
  // 8-4-4-4-12: dashes at fixed offsets, 32 hex digits elsewhere.
  static constexpr size_t kTextSize = 36;
  static constexpr std::array<size_t, 4> kDashes = {8, 13, 18, 23};
  if (text.size() != kTextSize) return std::nullopt;
  Uuid out;
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (std::find(kDashes.begin(), kDashes.end(), i) != kDashes.end()) {
      if (text[i] != '-') return std::nullopt;
      continue;
    }
    int v = hex_digit(text[i]);
    if (v < 0) return std::nullopt;
    uint8_t& byte = out[nibble / 2];
    byte = static_cast<uint8_t>(nibble % 2 == 0 ? v << 4 : byte | v);
    ++nibble;
  }
  return out;
}

std::optional<Uuid> parse_user_id(std::string_view text) {
  if (auto uuid = parse_uuid(text)) return uuid;
  if (text.size() == 32) {
    std::string dashed(text);
    for (size_t at : {8, 13, 18, 23})
      dashed.insert(at, 1, '-');
    auto uuid = parse_uuid(dashed);
    crypto::secure_wipe(dashed.data(), dashed.size());
    return uuid;
  }
  if (text.empty() || text.size() > kMaxUserIdText) return std::nullopt;
  // Xray's mapping, byte for byte: SHA-1(16 zero bytes || text), first 16 bytes, then the
  // version (5) and variant (10xx) bits of RFC 4122 §4.1.
  const std::array<uint8_t, 16> zero_namespace{};
  auto digest = crypto::sha1({ByteView(zero_namespace), as_bytes(text)});
  Uuid out;
  std::copy(digest.begin(), digest.begin() + 16, out.begin());
  crypto::secure_wipe(digest.data(), digest.size());
  out[6] = static_cast<uint8_t>((out[6] & 0x0f) | 0x50);
  out[8] = static_cast<uint8_t>((out[8] & 0x3f) | 0x80);
  return out;
}

std::optional<std::string> cut_uuid_warning(std::string_view text) {
  if (text.empty() || text.size() > kMaxUserIdText) return std::nullopt;  // not a text ID
  std::vector<size_t> groups{0};
  for (char c : text) {
    if (c == '-') {
      groups.push_back(0);
    } else if (hex_digit(c) >= 0) {
      ++groups.back();
    } else {
      return std::nullopt;
    }
  }
  std::string shape;
  if (groups.size() == 1) {
    if (groups.front() < 16) return std::nullopt;  // too short to tell from a chosen name
    shape = std::to_string(groups.front()) + " hex digits; a UUID has 32";
  } else {
    // Every group before the last one whole, the last one no longer than its own.
    static constexpr std::array<size_t, 5> kGroups = {8, 4, 4, 4, 12};
    if (groups.size() > kGroups.size() || groups.back() > kGroups[groups.size() - 1]) {
      return std::nullopt;
    }
    for (size_t i = 0; i + 1 < groups.size(); ++i) {
      if (groups[i] != kGroups[i]) return std::nullopt;
    }
    if (groups.back() == 0) groups.pop_back();  // "3f1c2a4e-": cut right after a dash
    shape = std::to_string(text.size()) + " characters: hex digits in groups ";
    for (size_t i = 0; i < groups.size(); ++i)
      shape += (i == 0 ? "" : "-") + std::to_string(groups[i]);
  }
  return "looks like a cut-off UUID (" + shape +
         "); v2ray needs the whole 8-4-4-4-12 form; other text is taken as an Xray text ID";
}

std::string format_uuid(const Uuid& uuid) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[uuid[i] >> 4];
    out += kHex[uuid[i] & 0x0f];
  }
  return out;
}

Account Account::make(const Uuid& id, uint16_t alter_id_count) {
  Account account;
  account.id = id;
  auto cmd_key = crypto::md5({ByteView(id), as_bytes(id_salt::kCmdKey)});
  take_digest(cmd_key, account.cmd_key);
  account.alter_ids.reserve(alter_id_count);
  const Uuid* prev = &account.id;
  for (uint16_t i = 0; i < alter_id_count; ++i) {
    account.alter_ids.push_back(next_alter_id(*prev));
    prev = &account.alter_ids.back();  // reserve() keeps this pointer valid
  }
  return account;
}

}  // namespace vmlocal::vmess
