// libFuzzer entry point; the target itself is in targets.cpp.
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return vmlocal::fuzz::run_for_libfuzzer(vmlocal::fuzz::socks5_udp_header, data, size);
}
