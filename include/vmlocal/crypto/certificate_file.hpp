// Checking a PEM certificate file (a profile's [server.tls] ca_file) when the profile loads, so
// a wrong path or a key file in its place is a profile error, not a failure at the first
// connection.
#pragma once

#include <string>

namespace vmlocal::crypto {

// "" when the file can be read and holds at least one PEM certificate; otherwise why not,
// phrased to follow the path ("cannot be read: No such file or directory", "holds no PEM
// certificate (-----BEGIN CERTIFICATE-----)").
std::string certificate_file_problem(const std::string& path);

}  // namespace vmlocal::crypto
