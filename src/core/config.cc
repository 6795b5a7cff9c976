#include "core/config.h"
#include "core/sasl_loader.h"

#include <memory>

namespace lmc {

Napi::Error MemcachedError(Napi::Env env, memcached_return_t rc, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("rc", Napi::Number::New(env, rc));
  return error;
}

static std::string StringField(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  return value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
}

ClientConfig ReadConfig(const Napi::Object& object) {
  Napi::Env env = object.Env();
  ClientConfig config;

  Napi::Array servers = object.Get("servers").As<Napi::Array>();
  for (uint32_t i = 0; i < servers.Length(); i++) {
    Napi::Object item = servers.Get(i).As<Napi::Object>();
    ServerSpec spec;
    std::string transport = StringField(item, "transport");
    spec.transport = transport == "unix" ? Transport::Unix
                     : transport == "udp" ? Transport::Udp
                                          : Transport::Tcp;
    spec.host = StringField(item, "host");
    spec.port = static_cast<in_port_t>(item.Get("port").ToNumber().Uint32Value());
    spec.weight = item.Get("weight").ToNumber().Uint32Value();
    config.servers.push_back(std::move(spec));
  }

  Napi::Value behaviors = object.Get("behaviors");
  if (behaviors.IsArray()) {
    Napi::Array list = behaviors.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Array pair = list.Get(i).As<Napi::Array>();
      int id = pair.Get(0u).ToNumber().Int32Value();
      // Behaviors take a uint64_t; libmemcached narrows timeouts to int32, so -1 stays -1.
      uint64_t value = static_cast<uint64_t>(pair.Get(1u).ToNumber().Int64Value());
      config.behaviors.emplace_back(id, value);
    }
  }

  if (object.Get("username").IsString()) {
    config.sasl = true;
    config.username = StringField(object, "username");
    config.password = StringField(object, "password");
  }

  config.name_space = StringField(object, "namespace");

  // Checked and normalised by lib/options.ts: PEM texts as strings, booleans, a version name.
  Napi::Value tls = object.Get("tls");
  if (tls.IsObject()) {
    Napi::Object options = tls.As<Napi::Object>();
    config.tls.enabled = true;
    config.tls.has_ca = options.Get("ca").IsString();
    if (config.tls.has_ca) config.tls.ca = StringField(options, "ca");
    config.tls.has_identity = options.Get("cert").IsString();
    if (config.tls.has_identity) {
      config.tls.cert = StringField(options, "cert");
      config.tls.key = StringField(options, "key");
    }
    if (options.Get("passphrase").IsString()) config.tls.passphrase = StringField(options, "passphrase");
    if (options.Get("servername").IsString()) config.tls.servername = StringField(options, "servername");
    config.tls.verify = options.Get("rejectUnauthorized").ToBoolean().Value();
    config.tls.tls13_only = options.Get("minVersion").IsString() && StringField(options, "minVersion") == "TLSv1.3";
  }

  Napi::Value max_value_size = object.Get("maxValueSize");
  if (max_value_size.IsNumber()) config.max_value_size = static_cast<uint64_t>(max_value_size.As<Napi::Number>().Int64Value());

  Napi::Value connections = object.Get("connections");
  config.connections = connections.IsNumber() ? connections.As<Napi::Number>().Uint32Value() : 1;
  if (config.connections == 0) {
    throw Napi::RangeError::New(env, "connections must be at least 1");
  }
  return config;
}

memcached_st* BuildMaster(Napi::Env env, const ClientConfig& config) {
  std::unique_ptr<memcached_st, void (*)(memcached_st*)> master(memcached_create(nullptr),
                                                                memcached_free);
  if (!master) throw MemcachedError(env, MEMCACHED_MEMORY_ALLOCATION_FAILURE, "out of memory");
  memcached_return_t rc;

  // UDP before the behaviors, as this client always did: libmemcached then refuses the
  // behaviors UDP cannot honour (buffer_requests, turning noreply off) and the client reports
  // it, rather than have UDP quietly undo them afterwards. It has no bearing on placement.
  for (const ServerSpec& spec : config.servers) {
    if (spec.transport == Transport::Udp) {
      memcached_behavior_set(master.get(), MEMCACHED_BEHAVIOR_USE_UDP, 1);
      break;
    }
  }

  // The behaviors before the servers, as pylibmc does: libmemcached marks a consistent
  // continuum "weighted" when a server of weight above 1 is added while a consistent
  // distribution is set, and not when the distribution is set after the servers, so the other
  // order places keys elsewhere than pylibmc for weighted server lists. No behavior needs the
  // servers: a distribution set without them builds an empty continuum, which each server added
  // rebuilds.
  for (const auto& [id, value] : config.behaviors) {
    rc = memcached_behavior_set(master.get(), static_cast<memcached_behavior_t>(id), value);
    if (memcached_failed(rc)) {
      throw MemcachedError(env, rc,
                           "behavior " + std::to_string(id) + " = " + std::to_string(value) +
                               " rejected: " + memcached_last_error_message(master.get()));
    }
  }

  for (const ServerSpec& spec : config.servers) {
    if (spec.transport == Transport::Unix) {
      rc = memcached_server_add_unix_socket_with_weight(master.get(), spec.host.c_str(), spec.weight);
    } else {
      rc = memcached_server_add_with_weight(master.get(), spec.host.c_str(), spec.port, spec.weight);
    }
    if (memcached_failed(rc)) {
      throw MemcachedError(env, rc,
                           "cannot add server " + spec.host + ": " + memcached_strerror(master.get(), rc));
    }
  }

#ifndef LIBMEMCACHED_SYSTEM
  if (config.max_value_size != 0) {
    // Copied by memcached_clone into every I/O thread's handle (deps/patches/0002).
    rc = memcached_behavior_set(master.get(), MEMCACHED_BEHAVIOR_MAX_VALUE_SIZE, config.max_value_size);
    if (memcached_failed(rc)) {
      throw MemcachedError(env, rc, "maxValueSize rejected: " + std::string(memcached_last_error_message(master.get())));
    }
  }
#endif

  if (!config.name_space.empty()) {
    // Copied by memcached_clone into every I/O thread's handle.
    rc = memcached_callback_set(master.get(), MEMCACHED_CALLBACK_NAMESPACE, config.name_space.c_str());
    if (memcached_failed(rc)) {
      throw MemcachedError(env, rc, "namespace rejected: " + std::string(memcached_last_error_message(master.get())));
    }
  }

  if (config.tls.enabled) {
    if (!TlsAvailable()) throw MemcachedError(env, MEMCACHED_NOT_SUPPORTED, "TLS is not available: " + TlsUnavailableReason());
    std::string why;
    rc = ApplyTls(master.get(), config.tls, why);
    if (memcached_failed(rc)) throw MemcachedError(env, rc, why);
  }

  if (config.sasl) {
    if (!SaslAvailable()) throw MemcachedError(env, MEMCACHED_NOT_SUPPORTED, SaslUnavailableReason());
#if defined(LIBMEMCACHED_WITH_SASL_SUPPORT) && LIBMEMCACHED_WITH_SASL_SUPPORT
    rc = memcached_set_sasl_auth_data(master.get(), config.username.c_str(), config.password.c_str());
    if (memcached_failed(rc)) {
      throw MemcachedError(env, rc, std::string("SASL setup failed: ") + memcached_strerror(master.get(), rc));
    }
#else
    throw MemcachedError(env, MEMCACHED_NOT_SUPPORTED, "this libmemcached was built without SASL");
#endif
  }
  return master.release();
}

}  // namespace lmc
