// Module entry: the native Client class and what the library was built with.
#include <libmemcached/memcached.h>
#include <napi.h>

#include "client.h"
#include "constants.h"
#include "core/sasl_loader.h"
#include "core/tls_support.h"
#include "core/value_pool.h"
#include "protocol.h"

#if LIBMEMCACHED_VERSION_HEX < 0x001001004
#error "libmemcached >= 1.1.4 is required (older releases can return another key's value on timeouts)"
#endif

namespace {

// valuePoolStats(): the large-value pool's free bytes and how many blocks it has handed out
// again (core/value_pool.h), for tests and for looking into memory use.
Napi::Value ValuePoolStats(const Napi::CallbackInfo& info) {
  Napi::Object stats = Napi::Object::New(info.Env());
  lmc::ValuePool& pool = lmc::ValuePool::Shared();
  stats.Set("freeBytes", Napi::Number::New(info.Env(), static_cast<double>(pool.free_bytes())));
  stats.Set("recycled", Napi::Number::New(info.Env(), static_cast<double>(pool.recycled())));
  return stats;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Client", lmc::Client::Define(env));
  exports.Set("constants", lmc::Constants(env));
  exports.Set("valuePoolStats", Napi::Function::New(env, ValuePoolStats, "valuePoolStats"));
  exports.Set("protocol", lmc::protocol::Protocol(env));
  // The library actually linked (for a system build it can differ from the headers used).
  exports.Set("libmemcachedVersion", Napi::String::New(env, memcached_lib_version()));
  exports.Set("libmemcachedCompiledVersion", Napi::String::New(env, LIBMEMCACHED_VERSION_STRING));
  // Whether SASL can work on this machine: compiled in, and libsasl2 present (sasl_loader.h).
  exports.Set("supportSasl", Napi::Boolean::New(env, lmc::SaslAvailable()));
  // Whether TLS can work in this process: built in, and an OpenSSL 3 exported by Node.
  exports.Set("supportTls", Napi::Boolean::New(env, lmc::TlsAvailable()));
  exports.Set("tlsUnavailableReason", Napi::String::New(env, lmc::TlsUnavailableReason()));
#ifdef LIBMEMCACHED_SYSTEM
  exports.Set("linkage", Napi::String::New(env, "system"));
#else
  exports.Set("linkage", Napi::String::New(env, "static"));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(memcached, Init)
