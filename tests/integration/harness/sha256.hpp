// SHA-256 over OpenSSL, to compare what went into a tunnel with what came out.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace vmlocal::itest {

using Digest = std::array<std::uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const std::uint8_t> data);
  void update(std::string_view data);
  Digest finish();  // the object may not be updated afterwards

 private:
  evp_md_ctx_st* ctx_;
};

Digest sha256(std::span<const std::uint8_t> data);
std::string to_hex(std::span<const std::uint8_t> data);

}  // namespace vmlocal::itest
