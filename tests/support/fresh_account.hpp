// A VMess account with a random UUID (alterId 0), for tests that run a client against a fake
// server.
#pragma once

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/vmess/account.hpp"

namespace vmlocal::test {

inline vmess::Account fresh_account() {
  crypto::SystemRandom random;
  vmess::Uuid id;
  random.fill(id);
  return vmess::Account::make(id, 0);
}

}  // namespace vmlocal::test
