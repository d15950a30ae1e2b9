// What the CPU offers, for choices a v2ray client makes by architecture (§4.2 "auto").
#pragma once

namespace vmlocal::crypto {

// True when the CPU has AES instructions (x86 AES-NI, ARMv8 AES); false when unknown.
bool cpu_has_aes();

}  // namespace vmlocal::crypto
