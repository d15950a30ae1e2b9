// What a tunnel needs from the UDP relay when its app asks for SOCKS5 UDP ASSOCIATE (RFC 1928
// §7): an association tied to the tunnel's TCP connection, and the relay address the app is
// told to send its datagrams to. The relay itself lives in inbound/ (udp_relay.hpp); the tunnel
// only holds the lease and drops it when its connection closes, which ends the association.
#pragma once

#include <sys/socket.h>

#include <memory>

#include "vmlocal/util/error.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::tunnel {

// Held by the tunnel for as long as its TCP connection is open; destroying it ends the
// association (on whichever thread the tunnel runs: the relay frees its state on its own loop).
class UdpAssociationLease {
 public:
  virtual ~UdpAssociationLease() = default;
};

struct UdpAssociated {
  TargetAddress relay;  // BND.ADDR:BND.PORT for the reply
  std::unique_ptr<UdpAssociationLease> lease;
};

class UdpAssociator {
 public:
  virtual ~UdpAssociator() = default;
  // `client`: the address and port the app said it will send from (all zeros, or a zero port,
  // when it does not know yet). `peer` / `local`: the TCP connection's two ends. Errors: the
  // relay is not running (stopping), or no relay serves the address the connection came in on.
  virtual Result<UdpAssociated> associate(const TargetAddress& client, const sockaddr& peer,
                                          const sockaddr& local) = 0;
};

}  // namespace vmlocal::tunnel
