#include "client.h"

#include "config.h"

namespace lmc {

namespace {

// Copies a string (as UTF-8) or a Buffer into `out`. The TypeScript layer has already checked
// the type and the key rules; this is the copy argon2-style: nothing JS-owned crosses threads.
void CopyBytes(Napi::Env env, napi_value value, std::string& out) {
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  if (is_buffer) {
    void* data;
    size_t length;
    napi_get_buffer_info(env, value, &data, &length);
    out.assign(static_cast<const char*>(data), length);
    return;
  }
  size_t length;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &length) != napi_ok) {
    throw Napi::TypeError::New(env, "expected a string or a Buffer");
  }
  out.resize(length);
  napi_get_value_string_utf8(env, value, out.data(), length + 1, &length);
}

uint64_t ToUint64(const Napi::Value& value) {
  if (value.IsBigInt()) {
    bool lossless;
    return value.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  return static_cast<uint64_t>(value.As<Napi::Number>().Int64Value());
}

Napi::Value FromUint64(Napi::Env env, uint64_t value) {
  constexpr uint64_t kMaxSafeInteger = (1ull << 53) - 1;
  if (value <= kMaxSafeInteger) return Napi::Number::New(env, static_cast<double>(value));
  return Napi::BigInt::New(env, value);
}

Napi::Value CopyToBuffer(Napi::Env env, const std::string& bytes) {
  return Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
}

}  // namespace

Napi::Function Client::Define(Napi::Env env) {
  return DefineClass(env, "Client",
                     {
                         InstanceMethod<&Client::Get>("get"),
                         InstanceMethod<&Client::Store>("store"),
                         InstanceMethod<&Client::KeyOp>("keyOp"),
                         InstanceMethod<&Client::Counter>("counter"),
                         InstanceMethod<&Client::ServerOp>("serverOp"),
                         InstanceMethod<&Client::Close>("close"),
                         InstanceMethod<&Client::Dispose>("dispose"),
                     });
}

// new Client(config, onComplete)
Client::Client(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Client>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "Client(config, onComplete)");
  }
  ClientConfig config = ReadConfig(info[0].As<Napi::Object>());
  memcached_st* master = BuildMaster(env, config);
  engine_ = std::make_unique<Engine>(master, config.connections);
  on_complete_ = Napi::Weak(info[1].As<Napi::Function>());

  wake_target_ = new WakeTarget{this};
  napi_status status = napi_create_threadsafe_function(
      env, nullptr, nullptr, Napi::String::New(env, "libmemcached"), 0, 1,
      /* finalize data */ wake_target_, FinalizeWakeTarget, /* context */ wake_target_, CallJs, &tsfn_);
  if (status != napi_ok) {
    delete wake_target_;
    wake_target_ = nullptr;
    throw Napi::Error::New(env, "cannot create the completion channel");
  }
  napi_unref_threadsafe_function(env, tsfn_);
  // Registered after the threadsafe function so that it runs before the function's own
  // teardown (cleanup hooks run in reverse order).
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);

  napi_threadsafe_function tsfn = tsfn_;
  engine_->Start([tsfn] { napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking); });
}

Client::~Client() { Release(); }

void Client::Release() {
  if (released_) return;
  released_ = true;
  napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
  engine_->Shutdown();  // joins the threads: no wake-up can follow
  wake_target_->client = nullptr;
  napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
  tsfn_ = nullptr;
}

void Client::OnEnvCleanup(void* data) {
  Client* client = static_cast<Client*>(data);
  // The env is going away (worker exit, process exit): stop the threads; promises still
  // pending have nobody left to observe them.
  client->released_ = true;
  client->engine_->Shutdown();
  client->wake_target_->client = nullptr;
  napi_release_threadsafe_function(client->tsfn_, napi_tsfn_abort);
  client->tsfn_ = nullptr;
}

void Client::FinalizeWakeTarget(napi_env, void* data, void*) { delete static_cast<WakeTarget*>(data); }

void Client::CallJs(napi_env env, napi_value, void* context, void*) {
  if (env == nullptr) return;
  Client* client = static_cast<WakeTarget*>(context)->client;
  if (client == nullptr) return;
  try {
    client->Deliver(Napi::Env(env));
  } catch (const Napi::Error& error) {
    // Left pending, Node reports it as an uncaught exception instead of terminating.
    error.ThrowAsJavaScriptException();
  }
}

Operation* Client::NewOperation(const Napi::CallbackInfo& info, OpCode code) {
  if (released_) throw Napi::Error::New(info.Env(), "client is closed");
  auto* op = new Operation();
  op->id = info[0].As<Napi::Number>().Uint32Value();
  op->code = code;
  return op;
}

void Client::Submit(Operation* op, bool toAll) {
  if (in_flight_++ == 0) {
    on_complete_.Ref();
    napi_ref_threadsafe_function(Env(), tsfn_);
  }
  if (toAll) {
    engine_->SubmitToAll(op);
  } else {
    engine_->Submit(op);
  }
}

// get(id, keys[], multi)
Napi::Value Client::Get(const Napi::CallbackInfo& info) {
  std::unique_ptr<Operation> op(NewOperation(info, OpCode::Get));
  Napi::Array keys = info[1].As<Napi::Array>();
  uint32_t count = keys.Length();
  op->keys.resize(count);
  for (uint32_t i = 0; i < count; i++) CopyBytes(info.Env(), keys.Get(i), op->keys[i]);
  op->flags = info[2].ToBoolean() ? 1 : 0;  // multi: hits come back as a list
  Submit(op.release());
  return info.Env().Undefined();
}

// The common head of keyed operations: (id, opcode, key, ...).
Operation* Client::NewKeyedOperation(const Napi::CallbackInfo& info) {
  auto code = static_cast<OpCode>(info[1].As<Napi::Number>().Uint32Value());
  std::unique_ptr<Operation> op(NewOperation(info, code));
  op->keys.resize(1);
  CopyBytes(info.Env(), info[2], op->keys[0]);
  return op.release();
}

// store(id, opcode, key, value, flags, exptime, cas?)
Napi::Value Client::Store(const Napi::CallbackInfo& info) {
  std::unique_ptr<Operation> op(NewKeyedOperation(info));
  OpCode code = op->code;
  CopyBytes(info.Env(), info[3], op->value);
  op->flags = info[4].As<Napi::Number>().Uint32Value();
  op->exptime = static_cast<time_t>(info[5].As<Napi::Number>().Int64Value());
  if (code == OpCode::Cas) op->cas = ToUint64(info[6]);
  Submit(op.release());
  return info.Env().Undefined();
}

// keyOp(id, opcode, key, exptime): delete, touch
Napi::Value Client::KeyOp(const Napi::CallbackInfo& info) {
  std::unique_ptr<Operation> op(NewKeyedOperation(info));
  if (info[3].IsNumber()) op->exptime = static_cast<time_t>(info[3].As<Napi::Number>().Int64Value());
  Submit(op.release());
  return info.Env().Undefined();
}

// counter(id, opcode, key, delta)
Napi::Value Client::Counter(const Napi::CallbackInfo& info) {
  std::unique_ptr<Operation> op(NewKeyedOperation(info));
  op->delta = ToUint64(info[3]);
  Submit(op.release());
  return info.Env().Undefined();
}

// serverOp(id, opcode, arg): flushAll(exptime), stats(group), disconnect
Napi::Value Client::ServerOp(const Napi::CallbackInfo& info) {
  auto code = static_cast<OpCode>(info[1].As<Napi::Number>().Uint32Value());
  std::unique_ptr<Operation> op(NewOperation(info, code));
  if (info[2].IsNumber()) op->exptime = static_cast<time_t>(info[2].As<Napi::Number>().Int64Value());
  if (info[2].IsString()) op->arg = info[2].As<Napi::String>().Utf8Value();
  // Disconnecting concerns every thread's connections; flush and stats need only one.
  Submit(op.release(), code == OpCode::Disconnect);
  return info.Env().Undefined();
}

// close(id): every thread finishes what is queued before it, then frees its handle.
Napi::Value Client::Close(const Napi::CallbackInfo& info) {
  Submit(NewOperation(info, OpCode::Close), true);
  return info.Env().Undefined();
}

// dispose(): after close() completed, joins the (exited) threads and drops the channel.
Napi::Value Client::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

// Calls onComplete once with a flat list, five slots per operation:
//   id, rc, a, b, c
// get:       a = value Buffer or undefined, b = flags, c = cas (BigInt)
// get multi: a = [index, value, flags, cas, index, value, ...]
// incr/decr: a = new value (number, or BigInt beyond 2^53 - 1)
// stats:     a = [[name, [key, value, key, value, ...]], ...]
// failure:   a = libmemcached's message, b = "host:port" when known
void Client::Deliver(Napi::Env env) {
  std::vector<Operation*> done = engine_->TakeCompleted();
  if (done.empty()) return;
  Napi::HandleScope scope(env);
  Napi::Array results = Napi::Array::New(env, done.size() * 5);
  uint32_t slot = 0;
  for (Operation* op : done) {
    std::unique_ptr<Operation> owned(op);
    results.Set(slot++, Napi::Number::New(env, op->id));
    results.Set(slot++, Napi::Number::New(env, op->rc));
    Napi::Value a = env.Undefined(), b = env.Undefined(), c = env.Undefined();
    if (!IsSoftResult(op->rc)) {
      a = Napi::String::New(env, op->error);
      if (!op->server.empty()) b = Napi::String::New(env, op->server);
    } else if (op->code == OpCode::Get && op->flags == 0) {
      if (!op->hits.empty()) {
        const Hit& hit = op->hits[0];
        a = CopyToBuffer(env, hit.value);
        b = Napi::Number::New(env, hit.flags);
        c = Napi::BigInt::New(env, hit.cas);
      }
    } else if (op->code == OpCode::Get) {
      Napi::Array hits = Napi::Array::New(env, op->hits.size() * 4);
      uint32_t h = 0;
      for (const Hit& hit : op->hits) {
        hits.Set(h++, Napi::Number::New(env, hit.index));
        hits.Set(h++, CopyToBuffer(env, hit.value));
        hits.Set(h++, Napi::Number::New(env, hit.flags));
        hits.Set(h++, Napi::BigInt::New(env, hit.cas));
      }
      a = hits;
    } else if (op->code == OpCode::Incr || op->code == OpCode::Decr) {
      a = FromUint64(env, op->number);
    } else if (op->code == OpCode::Stats) {
      Napi::Array servers = Napi::Array::New(env, op->stats.size());
      for (uint32_t i = 0; i < op->stats.size(); i++) {
        const auto& [name, entries] = op->stats[i];
        Napi::Array flat = Napi::Array::New(env, entries.size() * 2);
        for (uint32_t e = 0; e < entries.size(); e++) {
          flat.Set(2 * e, Napi::String::New(env, entries[e].first));
          flat.Set(2 * e + 1, Napi::String::New(env, entries[e].second));
        }
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(0u, Napi::String::New(env, name));
        pair.Set(1u, flat);
        servers.Set(i, pair);
      }
      a = servers;
    }
    results.Set(slot++, a);
    results.Set(slot++, b);
    results.Set(slot++, c);
  }
  in_flight_ -= static_cast<uint32_t>(done.size());
  Napi::Function callback = on_complete_.Value();
  if (in_flight_ == 0) {
    // Idle again: let the process exit and the client be collected.
    on_complete_.Unref();
    if (tsfn_ != nullptr) napi_unref_threadsafe_function(env, tsfn_);
  }
  if (!callback.IsEmpty()) callback.Call({results});
}

}  // namespace lmc
