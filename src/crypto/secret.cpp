#include "vmlocal/crypto/secret.hpp"

#include <sodium.h>

namespace vmlocal::crypto {

void secure_wipe(void* data, size_t size) {
  sodium_memzero(data, size);
}

}  // namespace vmlocal::crypto
