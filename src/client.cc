#include "client.h"

#include <cstring>

#include "config.h"

namespace lmc {

namespace {

// Request headers, kHeaderWords uint32 words each (lib/submission.ts writes them). An operation
// is one header; a multi-key operation (kMulti) is one header whose kKeyLength is its item
// count, followed by one header per item (of which only the key, value, flags and exptime
// words are read).
enum HeaderWord {
  kCode = 0,         // OpCode | kWantCas | kMulti
  kId = 1,           // request id
  kKeyOffset = 2,    // key bytes in the byte buffer
  kKeyLength = 3,
  kValueOffset = 4,  // value bytes in the byte buffer, or kInObjects
  kValueLength = 5,  // or, with kInObjects, the index in the objects array
  kFlags = 6,
  kExptime = 7,
  kNumberLow = 8,  // Cas: token; Incr/Decr: delta (64 bits in two words)
  kNumberHigh = 9,
  kHeaderWords = 10,
};
constexpr uint32_t kWantCas = 1u << 8;
constexpr uint32_t kMulti = 1u << 9;
constexpr uint32_t kInObjects = 0xffffffffu;

// Completion metadata, kMetaWords uint32 words per record. A single operation is one record:
// id, rc, flags, value length. A multi-key operation is a record id, rc, item count, kMultiRecord
// followed by one record per item: rc, flags, value length, 0.
constexpr uint32_t kMetaWords = 4;
constexpr uint32_t kNoValue = 0xffffffffu;
constexpr uint32_t kValueInExtras = 0xfffffffeu;
constexpr uint32_t kMultiRecord = 0xfffffffdu;
// Small values share one slab Buffer per delivery, which JavaScript slices without copying;
// larger ones get a Buffer of their own so that keeping one value cannot pin a big slab.
constexpr size_t kSlabValueMax = 4096;
constexpr size_t kSlabMax = 256 * 1024;

// Copies a string (as UTF-8) or a Buffer into `out`.
void CopyBytes(napi_env env, napi_value value, std::string& out) {
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

Napi::Value StatsToJs(Napi::Env env, const StatsList& stats) {
  Napi::Array servers = Napi::Array::New(env, stats.size());
  for (uint32_t i = 0; i < stats.size(); i++) {
    const auto& [name, entries] = stats[i];
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
  return servers;
}

Napi::Value FromUint64(Napi::Env env, uint64_t value) {
  constexpr uint64_t kMaxSafeInteger = (1ull << 53) - 1;
  if (value <= kMaxSafeInteger) return Napi::Number::New(env, static_cast<double>(value));
  return Napi::BigInt::New(env, value);
}

}  // namespace

Napi::Function Client::Define(Napi::Env env) {
  return DefineClass(env, "Client",
                     {
                         InstanceMethod<&Client::Submit>("submit"),
                         InstanceMethod<&Client::Hash>("hash"),
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

Client::~Client() {
  Release();
  for (Operation* op : free_operations_) delete op;
}

// Stops the threads and drops the completion channel. From the env cleanup hook (a worker or
// the process exiting) the hook is already being run, so it is not removed again; promises still
// pending then have nobody left to observe them.
void Client::Release(bool from_cleanup_hook) {
  if (released_) return;
  released_ = true;
  if (!from_cleanup_hook) napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
  engine_->Shutdown();  // joins the threads: no wake-up can follow
  wake_target_->client = nullptr;
  napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
  tsfn_ = nullptr;
}

void Client::OnEnvCleanup(void* data) { static_cast<Client*>(data)->Release(true); }

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

// submit(headers: Uint32Array, bytes: Buffer, words, objects: unknown[])
// Copies every operation out of JavaScript memory before returning, so the caller may reuse
// both buffers at once.
Napi::Value Client::Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (released_) throw Napi::Error::New(env, "client is closed");
  Napi::Uint32Array headers = info[0].As<Napi::Uint32Array>();
  Napi::Buffer<char> bytes = info[1].As<Napi::Buffer<char>>();
  uint32_t count = info[2].As<Napi::Number>().Uint32Value() / kHeaderWords;  // header slots
  Napi::Array objects = info[3].As<Napi::Array>();
  if (static_cast<size_t>(count) * kHeaderWords > headers.ElementLength()) {
    throw Napi::RangeError::New(env, "submit: header array too short");
  }
  const uint32_t* h = headers.Data();
  const char* base = bytes.Data();
  size_t base_length = bytes.Length();

  auto copy = [&](uint32_t offset, uint32_t length, std::string& out) {
    if (offset == kInObjects) {
      CopyBytes(env, objects.Get(length), out);
    } else {
      if (static_cast<size_t>(offset) + length > base_length) {
        throw Napi::RangeError::New(env, "submit: bytes out of range");
      }
      out.assign(base + offset, length);
    }
  };

  auto read_item = [&](const uint32_t* w, Item& item) {
    copy(w[kKeyOffset], w[kKeyLength], item.key);
    if (w[kValueOffset] == kInObjects || w[kValueLength] > 0) copy(w[kValueOffset], w[kValueLength], item.value);
    item.flags = w[kFlags];
    item.exptime = static_cast<time_t>(w[kExptime]);
  };

  std::vector<Operation*>& batch = submit_batch_;
  batch.clear();
  try {
    const uint32_t* end = h + static_cast<size_t>(count) * kHeaderWords;
    while (h < end) {
      uint32_t code = h[kCode] & 0xff;
      if (code >= kOpCodeCount) throw Napi::RangeError::New(env, "submit: unknown operation");
      std::unique_ptr<Operation> op(NewOperation());
      op->code = static_cast<OpCode>(code);
      op->want_cas = (h[kCode] & kWantCas) != 0;
      op->multi = (h[kCode] & kMulti) != 0;
      op->id = h[kId];
      op->number = static_cast<uint64_t>(h[kNumberHigh]) << 32 | h[kNumberLow];
      if (op->multi) {
        uint32_t items = h[kKeyLength];
        if (items > static_cast<size_t>(end - h) / kHeaderWords - 1) {
          throw Napi::RangeError::New(env, "submit: item headers out of range");
        }
        op->items.resize(items);
        for (uint32_t i = 0; i < items; i++) read_item(h + (i + 1) * kHeaderWords, op->items[i]);
        h += (items + 1) * kHeaderWords;
      } else {
        op->items.resize(1);
        read_item(h, op->items[0]);
        h += kHeaderWords;
      }
      batch.push_back(op.release());
    }
  } catch (...) {
    for (Operation* op : batch) delete op;
    batch.clear();
    throw;
  }
  if (batch.empty()) return env.Undefined();
  if (in_flight_ == 0) {
    on_complete_.Ref();
    napi_ref_threadsafe_function(env, tsfn_);
  }
  in_flight_ += static_cast<uint32_t>(batch.size());
  engine_->Submit(batch);
  return env.Undefined();
}

// Operations are made and retired on the JS thread only, so a plain free list recycles them
// (and their item vectors' capacity) without locking.
Operation* Client::NewOperation() {
  if (free_operations_.empty()) return new Operation();
  Operation* op = free_operations_.back();
  free_operations_.pop_back();
  return op;
}

void Client::Retire(Operation* op) {
  constexpr size_t kFreeOperationsMax = 1024;
  if (free_operations_.size() >= kFreeOperationsMax || op->parent != nullptr) {
    delete op;
    return;
  }
  op->items.clear();
  op->want_cas = op->multi = false;
  op->number = op->result_number = 0;
  op->rc = MEMCACHED_SUCCESS;
  op->stats.clear();
  op->error.clear();
  op->server.clear();
  op->remaining.store(1);
  op->origin.clear();
  free_operations_.push_back(op);
}

// hash(key) -> index of the server `key` maps to. Pure computation on the master handle,
// which never does I/O, so it runs right here on the JS thread.
Napi::Value Client::Hash(const Napi::CallbackInfo& info) {
  std::string key;
  CopyBytes(info.Env(), info[0], key);  // a key the TypeScript layer has validated
  uint32_t index = memcached_generate_hash(engine_->master(), key.data(), key.size());
  return Napi::Number::New(info.Env(), index);
}

// dispose(): after Close completed, joins the (exited) threads and drops the channel.
Napi::Value Client::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

// Calls onComplete(meta, slab, extras) once per wake-up:
//   meta:   Uint32Array of records (see kMetaWords), in completion order
//   slab:   the small values, back to back, in the order of their records
//   extras: in record order, whichever apply: a value of its own (length kValueInExtras); the
//           CAS token as a BigInt (want_cas and a hit); the new counter value (Incr/Decr
//           success: a number, or a BigInt beyond 2^53 - 1); the stats ([[name, [key, value,
//           ...]], ...]; Stats success); and, last for its operation, libmemcached's message and
//           the "host:port" or undefined (the operation's rc is a failure, not IsSoftResult).
void Client::Deliver(Napi::Env env) {
  std::vector<Operation*> done = engine_->TakeCompleted();
  if (done.empty()) return;
  Napi::HandleScope scope(env);

  size_t records = 0;
  size_t slab_size = 0;
  for (Operation* op : done) {
    records += op->multi ? op->items.size() + 1 : 1;
    for (const Item& item : op->items) {
      if (item.hit && item.result.size() <= kSlabValueMax && slab_size + item.result.size() <= kSlabMax) {
        slab_size += item.result.size();
      }
    }
  }
  Napi::ArrayBuffer meta_buffer = Napi::ArrayBuffer::New(env, records * kMetaWords * sizeof(uint32_t));
  uint32_t* meta = static_cast<uint32_t*>(meta_buffer.Data());
  Napi::Buffer<char> slab = Napi::Buffer<char>::New(env, slab_size);
  char* slab_cursor = slab.Data();
  size_t slab_left = slab_size;
  Napi::Array extras = Napi::Array::New(env);
  uint32_t extra = 0;

  // Writes an item's value length (and the value to the slab or extras).
  auto value = [&](const Item& item) -> uint32_t {
    if (!item.hit) return kNoValue;
    size_t size = item.result.size();
    if (size <= kSlabValueMax && size <= slab_left) {
      memcpy(slab_cursor, item.result.data(), size);
      slab_cursor += size;
      slab_left -= size;
      return static_cast<uint32_t>(size);
    }
    extras.Set(extra++, Napi::Buffer<char>::Copy(env, item.result.data(), size));
    return kValueInExtras;
  };

  for (Operation* op : done) {
    Recycler recycle{this, op};
    bool soft = IsSoftResult(op->rc);
    if (op->multi) {
      *meta++ = op->id;
      *meta++ = op->rc;
      *meta++ = static_cast<uint32_t>(op->items.size());
      *meta++ = kMultiRecord;
      for (const Item& item : op->items) {
        *meta++ = item.rc;
        *meta++ = item.result_flags;
        *meta++ = value(item);
        *meta++ = 0;
        if (op->want_cas && item.hit) extras.Set(extra++, Napi::BigInt::New(env, item.result_cas));
      }
    } else {
      const Item* item = op->items.empty() ? nullptr : &op->items[0];
      *meta++ = op->id;
      *meta++ = op->rc;
      *meta++ = item != nullptr ? item->result_flags : 0;
      *meta++ = item != nullptr ? value(*item) : kNoValue;
      if (op->want_cas && item != nullptr && item->hit) extras.Set(extra++, Napi::BigInt::New(env, item->result_cas));
      if (soft && op->rc == MEMCACHED_SUCCESS && (op->code == OpCode::Incr || op->code == OpCode::Decr)) {
        extras.Set(extra++, FromUint64(env, op->result_number));
      }
      if (soft && op->code == OpCode::Stats) extras.Set(extra++, StatsToJs(env, op->stats));
    }
    if (!soft) {
      extras.Set(extra++, Napi::String::New(env, op->error));
      extras.Set(extra++, op->server.empty() ? env.Undefined() : Napi::String::New(env, op->server));
    }
  }

  in_flight_ -= static_cast<uint32_t>(done.size());
  Napi::Function callback = on_complete_.Value();
  if (in_flight_ == 0) {
    // Idle again: let the process exit and the client be collected.
    on_complete_.Unref();
    if (tsfn_ != nullptr) napi_unref_threadsafe_function(env, tsfn_);
  }
  if (!callback.IsEmpty()) {
    Napi::Uint32Array meta_array = Napi::Uint32Array::New(env, records * kMetaWords, meta_buffer, 0);
    callback.Call({meta_array, slab, extras});
  }
}

}  // namespace lmc
