// The CPU the VMess body codec alone costs per GiB: no sockets, no event loop, just sealing the
// bytes in v2ray's chunk sizes (vmess-protocol.md §9.8) with the round's security, in a buffer
// that stays in cache. Every VMess client must do at least this on top of what the plain relay
// does (read and write every byte), so "the plain relay + this" is the floor the report sets
// beside each client's bulk CPU figure: the distance to it is what the client's own machinery
// costs. Opening a chunk costs the same cipher work as sealing it (AES-GCM and ChaCha20-Poly1305
// are symmetric), so one figure stands for both directions.
#pragma once

#include <string>

namespace vmlocal::bench {

// CPU-s (this thread's) per GiB of payload sealed with `security` ("aes-128-gcm",
// "chacha20-poly1305", "none", "zero", "auto"), options as v2ray's client sets them.
double codec_cpu_seconds_per_gib(const std::string& security);

}  // namespace vmlocal::bench
