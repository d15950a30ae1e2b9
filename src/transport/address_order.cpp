#include "vmlocal/transport/address_order.hpp"

namespace vmlocal::transport {

std::vector<size_t> interleave_families(std::span<const int> families) {
  std::vector<size_t> order;
  if (families.empty()) return order;
  const int first = families.front();
  std::vector<size_t> preferred;
  std::vector<size_t> other;
  for (size_t i = 0; i < families.size(); ++i) {
    (families[i] == first ? preferred : other).push_back(i);
  }
  size_t p = 0;
  size_t o = 0;
  while (p < preferred.size() || o < other.size()) {
    if (p < preferred.size()) order.push_back(preferred[p++]);
    if (o < other.size()) order.push_back(other[o++]);
  }
  return order;
}

}  // namespace vmlocal::transport
