// Socket addresses as log lines show them.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <string>

namespace vmlocal::uv {

// "127.0.0.1:5000" / "[::1]:5000" for a sockaddr; "?" for other families.
std::string format_sockaddr(const sockaddr* addr);
// Peer address of a connected TCP handle, or "?".
std::string peer_name(const uv_tcp_t* tcp);

}  // namespace vmlocal::uv
