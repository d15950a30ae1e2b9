#include "vmlocal/vmess/response_keys.hpp"

#include <algorithm>

#include "vmlocal/crypto/hash.hpp"

namespace vmlocal::vmess {
namespace {

crypto::Key16 derive(HeaderMode header_mode, ByteView secret) {
  crypto::Key16 out;
  if (header_mode == HeaderMode::kLegacy) {
    auto digest = crypto::md5({secret});
    std::copy(digest.begin(), digest.end(), out.begin());
    crypto::secure_wipe(digest.data(), digest.size());
  } else {
    auto digest = crypto::sha256({secret});
    std::copy_n(digest.begin(), out.size(), out.begin());
    crypto::secure_wipe(digest.data(), digest.size());
  }
  return out;
}

}  // namespace

ResponseKeys derive_response_keys(HeaderMode header_mode, ByteView body_key, ByteView body_iv) {
  return ResponseKeys{derive(header_mode, body_key), derive(header_mode, body_iv)};
}

}  // namespace vmlocal::vmess
