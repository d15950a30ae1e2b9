// Socket options the proxy uses that are not portable: SO_REUSEPORT and Linux's TCP Fast Open
// client side. All of them act on an open socket (from uv_fileno) and never close it. A platform
// without an option reports it as unavailable (false / nullopt), never as a build error, so the
// callers keep one code path.
#pragma once

#include <uv.h>

#include <optional>

namespace vmlocal::platform {

// Lets several listening sockets bind the same address and port, so the worker threads each
// listen on the shared port and the kernel spreads connections over them. Call before bind. False
// when the option cannot be set (errno says why; ENOPROTOOPT where the platform lacks it).
bool enable_reuseport(uv_os_fd_t fd);

// Makes the next connect() on this TCP socket a Fast Open one: connect returns at once and the
// first write goes out with the SYN when the kernel holds a cookie for the server. Call before
// connect. False when the option cannot be set (errno says why; ENOPROTOOPT where the platform
// lacks it); the connection then works as plain TCP.
bool enable_fast_open_connect(uv_os_fd_t fd);

// On a connected socket whose handshake is over: whether the SYN carried data, i.e. whether Fast
// Open was used. Nullopt when the platform cannot tell.
std::optional<bool> fast_open_used(uv_os_fd_t fd);

}  // namespace vmlocal::platform
