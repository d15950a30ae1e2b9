#include "vmlocal/util/error.hpp"

namespace vmlocal {

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kResolve:
      return "DNS";
    case ErrorKind::kRefused:
      return "refused";
    case ErrorKind::kUnreachable:
      return "unreachable";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kReset:
      return "reset";
    case ErrorKind::kProtocol:
      return "protocol";
    case ErrorKind::kNoResponse:
      return "no response";
    case ErrorKind::kBlocked:
      return "blocked";
    case ErrorKind::kRefusedLogin:
      return "server refuses us";
    case ErrorKind::kStopping:
      return "stopping";
    case ErrorKind::kOther:
      break;
  }
  return "other";
}

}  // namespace vmlocal
