// A self-signed P-256 CA certificate ("test-ca", valid until 2126) for profile tests that need a
// ca_file which loads, and its public key's pin.
#pragma once

#include <string_view>

namespace vmlocal::test {

inline constexpr std::string_view kTestCaPem =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBezCCASGgAwIBAgIUavAJqVsFeneV4e14L5tAvbrkkRUwCgYIKoZIzj0EAwIw\n"
    "EjEQMA4GA1UEAwwHdGVzdC1jYTAgFw0yNjExMjgwNzUwNThaGA8yMTI2MTEwNDA3\n"
    "NTA1OFowEjEQMA4GA1UEAwwHdGVzdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
    "A0IABITZdNkjDScfTYGy6mFn+Oxcw/ZasCGsNmf6fEoVXd0uQXqFzbAwLvckCZxV\n"
    "d2VlnQq+P/4co77lezzaw6AfGUKjUzBRMB0GA1UdDgQWBBSiA7JCQdqHBPNf8796\n"
    "gKtqtZKEUDAfBgNVHSMEGDAWgBSiA7JCQdqHBPNf8796gKtqtZKEUDAPBgNVHRMB\n"
    "Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIEq6Q0OUNJPKD9dwtOv8FJ5G7Kc+\n"
    "SomkYJ53PKA4gYjPAiEA7CGmsd7fyVtikUEcKq7Z2o2Od++/Q+O3OfyyjWbmwSk=\n"
    "-----END CERTIFICATE-----\n";

// kTestCaPem's SubjectPublicKeyInfo's SHA-256, base64.
inline constexpr std::string_view kTestCaPin = "Mrx50VHiDf9FK8v1tIQHsIoMfRTwZYJfXT6wE2CnFkk=";

}  // namespace vmlocal::test
