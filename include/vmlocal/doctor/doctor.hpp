// `vmess-local doctor -c FILE`: walks the layers between this computer and the VMess server —
// DNS (each address), TCP (each address, with its time), TLS (version, ALPN, the certificate, why
// it did not verify), the transport (the WebSocket upgrade's status line; on a tcp profile, what
// the port says to a plain HTTP request), then the VMess probe to [probe] url and the time to its
// answer — and names the first layer that fails, in plain words with the fix. When the server
// refuses the probe, the clock offset is estimated from the Date of an HTTP answer the server
// gave (the WebSocket upgrade, or a plain request to its port).
//
// With several servers ([[servers]]), each named in `servers` is diagnosed in turn under a
// "doctor: [i/N] NAME" heading, and a last line lists the ones that failed.
//
// A thin runner over its own event loop: what each observation means is diagnosis.hpp.
#pragma once

#include <cstddef>
#include <cstdio>
#include <vector>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::doctor {

inline constexpr int kExitAllPassed = 0;
inline constexpr int kExitLayerFailed = 1;

// Prints the report to `out`; the last line names the failed layer (one server) or the failed
// servers (several). `servers`: indexes into profile.servers, at least one. Returns
// kExitAllPassed when every layer of every one passed, else kExitLayerFailed.
int run_doctor(const config::Profile& profile, std::FILE* out, const std::vector<size_t>& servers);

}  // namespace vmlocal::doctor
