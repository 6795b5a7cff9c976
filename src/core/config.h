// The configuration of a client, read from JavaScript, and the master memcached_st built from it.
//
// The master never does I/O: no server is contacted until an I/O thread uses its own clone.
// Validation of names and ranges belongs to the TypeScript layer; this layer passes numbers to
// libmemcached as they are and reports libmemcached's verdict.
#pragma once

#include <libmemcached/memcached.h>
#include <napi.h>

#include "core/tls_support.h"

#include <string>
#include <utility>
#include <vector>

namespace lmc {

enum class Transport { Tcp, Udp, Unix };

struct ServerSpec {
  Transport transport = Transport::Tcp;
  std::string host;  // or the socket path
  in_port_t port = 11211;
  uint32_t weight = 1;
};

struct ClientConfig {
  std::vector<ServerSpec> servers;
  std::vector<std::pair<int, uint64_t>> behaviors;  // applied in this order
  std::string username;
  std::string password;
  bool sasl = false;
  std::string name_space;  // libmemcached's namespace (pylibmc's callback); empty = none
  uint32_t connections = 1;
  uint64_t max_value_size = 0;  // the largest value a reply may announce; 0 = libmemcached's
  TlsConfig tls;
};

ClientConfig ReadConfig(const Napi::Object& object);

// Builds a configured master handle; throws a JS error (with .rc) when libmemcached refuses a
// server or a behavior.
memcached_st* BuildMaster(Napi::Env env, const ClientConfig& config);

// A JS Error carrying libmemcached's return code as .rc.
Napi::Error MemcachedError(Napi::Env env, memcached_return_t rc, const std::string& message);

}  // namespace lmc
