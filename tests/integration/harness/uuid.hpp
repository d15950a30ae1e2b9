// Fresh random UUIDs (version 4) for VMess users, so no two tests share an identity.
#pragma once

#include <string>

namespace vmlocal::itest {

std::string random_uuid();

}  // namespace vmlocal::itest
