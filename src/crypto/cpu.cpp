#include "vmlocal/crypto/cpu.hpp"

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace vmlocal::crypto {

bool cpu_has_aes() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // harmless if already done; needed when called before constructors run
  return __builtin_cpu_supports("aes");
#elif defined(__aarch64__) && defined(__linux__)
  return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#else
  return false;  // unknown: prefer chacha20-poly1305, which is fast without AES hardware
#endif
}

}  // namespace vmlocal::crypto
