// TLS for a client's TCP connections (deps/patches/0007-tls.patch): whether this process can do
// it, and the configuration applied to a master memcached_st (clones share it).
//
// The addon does not link OpenSSL: libmemcached's TLS code calls the OpenSSL inside Node.js,
// whose official binaries export it. A Node without those symbols (or with an OpenSSL other
// than 3.x, whose ABI the headers describe) reports TLS as unavailable instead of crashing on
// the first call.
#pragma once

#include <libmemcached/memcached.h>

#include <string>

namespace lmc {

struct TlsConfig {
  bool enabled = false;
  bool has_ca = false;  // false: the system's trust store
  std::string ca;       // PEM, possibly several certificates
  bool has_identity = false;
  std::string cert;  // PEM: the client certificate, then any intermediates
  std::string key;   // PEM
  std::string passphrase;
  std::string servername;  // empty: each server's host
  bool verify = true;      // rejectUnauthorized
  bool tls13_only = false;  // minVersion 'TLSv1.3' (else TLS 1.2 and later)
};

bool TlsAvailable();

// Why TLS cannot be used here; empty when it can.
std::string TlsUnavailableReason();

// Configures master; on failure returns the error code and sets why (OpenSSL's reason).
memcached_return_t ApplyTls(memcached_st* master, const TlsConfig& config, std::string& why);

}  // namespace lmc
