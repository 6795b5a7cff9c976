// Whether TLS works in this process, and the call into the patched libmemcached (tls_support.h).
#include "core/tls_support.h"

#include <dlfcn.h>

#include <cstdio>

#if defined(LIBMEMCACHED_SYSTEM)
#define LMC_TLS_BUILT 0  // a distribution's libmemcached has no TLS
#else
#define LMC_TLS_BUILT 1
// deps/patches/0007-tls.patch
extern "C" memcached_return_t memcached_set_tls(memcached_st* memc, const char* ca_pem, size_t ca_length,
                                                const char* cert_pem, size_t cert_length, const char* key_pem,
                                                size_t key_length, const char* passphrase, const char* servername,
                                                int verify, int min_version, char* error, size_t error_size);
#endif

namespace lmc {
namespace {

// TLS1_2_VERSION and TLS1_3_VERSION: protocol numbers fixed by the TLS RFCs.
constexpr int kTls12 = 0x0303;
constexpr int kTls13 = 0x0304;

// The OpenSSL in this process, found by name as libmemcached's calls will be resolved: its
// major version must be 3, the one whose headers the TLS code was compiled with.
std::string Probe() {
  if (!LMC_TLS_BUILT) return "this addon is linked to the system's libmemcached, which has no TLS";
  using VersionNum = unsigned long (*)();
  auto version = reinterpret_cast<VersionNum>(dlsym(RTLD_DEFAULT, "OpenSSL_version_num"));
  if (version == nullptr || dlsym(RTLD_DEFAULT, "SSL_CTX_new") == nullptr) {
    return "this Node.js exposes no OpenSSL to addons (official Node.js binaries do)";
  }
  unsigned long number = version();
  if ((number >> 28) != 3) {
    char text[96];
    std::snprintf(text, sizeof(text), "the OpenSSL in this Node.js is 0x%lx; TLS needs OpenSSL 3", number);
    return text;
  }
  return std::string();
}

const std::string& Reason() {
  static const std::string reason = Probe();
  return reason;
}

}  // namespace

bool TlsAvailable() { return Reason().empty(); }

std::string TlsUnavailableReason() { return Reason(); }

memcached_return_t ApplyTls(memcached_st* master, const TlsConfig& config, std::string& why) {
#if LMC_TLS_BUILT
  char error[512] = "";
  memcached_return_t rc = memcached_set_tls(
      master, config.has_ca ? config.ca.data() : nullptr, config.ca.size(),
      config.has_identity ? config.cert.data() : nullptr, config.cert.size(),
      config.has_identity ? config.key.data() : nullptr, config.key.size(),
      config.passphrase.empty() ? nullptr : config.passphrase.c_str(),
      config.servername.empty() ? nullptr : config.servername.c_str(), config.verify ? 1 : 0,
      config.tls13_only ? kTls13 : kTls12, error, sizeof(error));
  if (memcached_failed(rc)) why = error[0] != '\0' ? error : memcached_strerror(master, rc);
  return rc;
#else
  (void)master;
  (void)config;
  why = "TLS is not available: " + TlsUnavailableReason();
  return MEMCACHED_NOT_SUPPORTED;
#endif
}

}  // namespace lmc
