#include "client.h"

#include <dlfcn.h>

#include <cstring>

#include "core/config.h"
#include "core/value_pool.h"

namespace lmc {

namespace {

using namespace protocol;  // the batch format (src/protocol.h)

// Small values share one slab Buffer per delivery, which JavaScript slices without copying;
// larger ones get a Buffer of their own so that keeping one value cannot pin a big slab.
constexpr size_t kSlabValueMax = 4096;
// The slab kept from one delivery to the next is at most kSlabKeptMax (the small values of a
// getMulti of some 10,000 keys); a delivery with more gets a slab of its own, up to kSlabMax,
// rather than a Buffer per value (getMulti(10000) of 100-byte values made 7,400 Buffers per call
// with a 256 KiB slab, and a fresh 1 MiB slab per call cost its page faults).
constexpr size_t kSlabKeptMax = 1024 * 1024;
constexpr size_t kSlabMax = 4 * 1024 * 1024;
// Bytes: a larger meta array is used once (256 KiB: the records of a getMulti of 16,000 keys).
constexpr size_t kMetaKeptMax = 256 * 1024;
// Text this long or longer is made an external string: V8 would put a copy of it in its large
// object space, fresh memory whose page faults cost more than the copy (docs/performance.md).
// Shorter text is copied into the young generation, whose pages V8 recycles.
constexpr size_t kExternalStringMin = 128 * 1024;

// node_api_create_external_string_latin1 (Node 20.4 and later, Node-API 10), looked up at load
// time so that the addon still loads, and copies, where it is missing.
using CreateExternalLatin1 = napi_status (*)(napi_env, char*, size_t, napi_finalize, void*, napi_value*, bool*);
const CreateExternalLatin1 create_external_latin1 =
    reinterpret_cast<CreateExternalLatin1>(dlsym(RTLD_DEFAULT, "node_api_create_external_string_latin1"));

// A pooled value's block comes back to the pool when JavaScript has collected its Buffer or
// string (the hint is the block's capacity). An external string's bytes were reported to V8 as
// external memory, which this takes back: V8 does not count them itself.
void FinalizePooledBuffer(napi_env, void* data, void* hint) {
  ValuePool::Shared().Give(static_cast<char*>(data), reinterpret_cast<uintptr_t>(hint));
}
void FinalizePooledString(napi_env env, void* data, void* hint) {
  size_t capacity = reinterpret_cast<uintptr_t>(hint);
  // (No env when the environment is gone.)
  if (env != nullptr) {
    int64_t ignored;
    napi_adjust_external_memory(env, -static_cast<int64_t>(capacity), &ignored);
  }
  ValuePool::Shared().Give(static_cast<char*>(data), capacity);
}

// Clears an exception a failed napi call may have left (a string too long for V8): the value
// is then delivered another way.
void ClearPending(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

// Gives V8 the chance to free the pooled Buffers of earlier large values in a minor collection.
// V8 collects young ArrayBuffers' external memory in a scavenge, whose cost is what the young
// generation holds, only when it allocates a backing store itself and finds at least two
// semi-spaces' worth of such memory young (Heap::AllocateExternalBackingStore). It never
// allocates a pooled Buffer's, so without this only its external-memory limit freed them: a full
// collection, whose cost is the whole heap. With 229 MB of live objects that was 120-190 ms
// every 64 MiB of values, and a loop of 256 KiB Buffer gets ran at 1,030/s instead of 6,500/s
// (docs/performance.md#large-values-and-a-large-heap). One byte allocated through V8 before a
// delivery's first such Buffer lets V8 apply its rule, as it does for every Buffer it allocates.
void OfferMinorCollection(napi_env env) {
  void* data;
  napi_value ignored;
  if (napi_create_arraybuffer(env, 1, &data, &ignored) != napi_ok) ClearPending(env);
}

// A large value as JavaScript gets it, without copying its bytes where possible: text (flags
// equal to `text_flags`, under the default deserializer) as a string, anything else as a Buffer.
// Sets `value` to nullptr when nothing could be made. The block is handed over to the value
// (`bytes` released) or stays with `bytes`, which gives it back when the operation is recycled.
// `offered` is whether this delivery has called OfferMinorCollection (once is enough: the
// values it makes are all alive until JavaScript has taken them).
napi_value LargeValue(napi_env env, PooledBytes& bytes, bool text, bool& offered) {
  napi_value value = nullptr;
  void* hint = reinterpret_cast<void*>(static_cast<uintptr_t>(bytes.capacity()));
  if (text) {
    bool ascii = bytes.ascii();
    if (ascii && bytes.size() >= kExternalStringMin && create_external_latin1 != nullptr) {
      bool copied = false;
      int64_t ignored;
      // Reported before the string exists: its finalizer may run within the call (when V8
      // copies it instead) and takes the report back.
      napi_adjust_external_memory(env, static_cast<int64_t>(bytes.capacity()), &ignored);
      if (create_external_latin1(env, bytes.data(), bytes.size(), FinalizePooledString, hint, &value, &copied) == napi_ok) {
        bytes.Release();
        return value;
      }
      napi_adjust_external_memory(env, -static_cast<int64_t>(bytes.capacity()), &ignored);
      ClearPending(env);
    }
    // ASCII is its own Latin-1; otherwise decoded as Buffer#toString would.
    napi_status status = ascii ? napi_create_string_latin1(env, bytes.data(), bytes.size(), &value)
                                       : napi_create_string_utf8(env, bytes.data(), bytes.size(), &value);
    if (status == napi_ok) return value;
    // Too long for a string: a Buffer, whose decoding then reports it (ERR_STRING_TOO_LONG).
    ClearPending(env);
    value = nullptr;
  }
  if (!offered) {
    OfferMinorCollection(env);
    offered = true;
  }
  if (napi_create_external_buffer(env, bytes.size(), bytes.data(), FinalizePooledBuffer, hint, &value) == napi_ok) {
    bytes.Release();
    return value;
  }
  // Where external buffers are not allowed (a V8 sandbox, as in Electron): a copy.
  ClearPending(env);
  value = nullptr;
  napi_create_buffer_copy(env, bytes.size(), bytes.data(), nullptr, &value);
  return value;
}

// Copies a string (as UTF-8) or a Buffer into `out`; false when `value` is neither.
bool CopyBytes(napi_env env, napi_value value, std::string& out) {
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  if (is_buffer) {
    void* data;
    size_t length;
    if (napi_get_buffer_info(env, value, &data, &length) != napi_ok) return false;
    out.assign(static_cast<const char*>(data), length);
    return true;
  }
  size_t length;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &length) != napi_ok) return false;
  out.resize(length);
  return napi_get_value_string_utf8(env, value, out.data(), length + 1, &length) == napi_ok;
}

// These build JS values with the C API (see Deliver for why); a failed call yields nullptr.
napi_value NewString(napi_env env, const std::string& text) {
  napi_value value = nullptr;
  napi_create_string_utf8(env, text.data(), text.size(), &value);
  return value;
}

napi_value StatsToJs(napi_env env, const StatsList& stats) {
  auto string = [env](const std::string& text) { return NewString(env, text); };
  napi_value servers = nullptr;
  napi_create_array_with_length(env, stats.size(), &servers);
  for (uint32_t i = 0; i < stats.size(); i++) {
    const auto& [name, entries] = stats[i];
    napi_value flat = nullptr;
    napi_create_array_with_length(env, entries.size() * 2, &flat);
    for (uint32_t e = 0; e < entries.size(); e++) {
      napi_set_element(env, flat, 2 * e, string(entries[e].first));
      napi_set_element(env, flat, 2 * e + 1, string(entries[e].second));
    }
    napi_value pair = nullptr;
    napi_create_array_with_length(env, 2, &pair);
    napi_set_element(env, pair, 0, string(name));
    napi_set_element(env, pair, 1, flat);
    napi_set_element(env, servers, i, pair);
  }
  return servers;
}

napi_value FromUint64(napi_env env, uint64_t number) {
  constexpr uint64_t kMaxSafeInteger = (1ull << 53) - 1;
  napi_value value = nullptr;
  if (number <= kMaxSafeInteger) {
    napi_create_double(env, static_cast<double>(number), &value);
  } else {
    napi_create_bigint_uint64(env, number, &value);
  }
  return value;
}

}  // namespace

Napi::Function Client::Define(Napi::Env env) {
  Napi::Function cls = DefineClass(env, "Client",
                                   {
                                       InstanceMethod<&Client::Hash>("hash"),
                                       InstanceMethod<&Client::Dispose>("dispose"),
                                       InstanceMethod<&Client::SetBehaviors>("setBehaviors"),
                                       InstanceMethod<&Client::IoThreads>("ioThreads"),
                                   });
  // submit is the one method JavaScript calls all the time, including while a worker is being
  // terminated; node-addon-api's instance-method wrapper then fails to unwrap `this` and aborts
  // the process on the C++ exception it makes of that. So it is a plain N-API callback.
  napi_property_descriptor submit = {"submit", nullptr, SubmitCallback, nullptr, nullptr, nullptr,
                                     napi_default_method, nullptr};
  napi_value prototype;
  if (napi_get_named_property(env, cls, "prototype", &prototype) == napi_ok) {
    napi_define_properties(env, prototype, 1, &submit);
  }
  return cls;
}

// new Client(config, onComplete[, source])
//
// With `source`, a native Client (clone()), the master is a copy of source's master, not built
// from `config`, so that the clone places keys exactly as its source does now. Built from
// config, the behaviors would apply as if given when the client was made, which places keys
// elsewhere for a weighted server list switched with setBehaviors (see BuildMaster), or when
// the behaviors of several setBehaviors calls, merged, apply in another order.
//
// In this order: the configuration (nothing to undo), the completion channel, the engine and its
// threads (each undone if a later step fails), and only once everything stands the cleanup hook,
// so that a failure never leaves a hook pointing at a half-made client. Any C++ exception
// becomes a JavaScript one (node-addon-api passes on only its own).
Client::Client(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Client>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "Client(config, onComplete[, source])");
  }
  ClientConfig config = ReadConfig(info[0].As<Napi::Object>());
  Napi::Value text_flags = info[0].As<Napi::Object>().Get("textFlags");
  if (text_flags.IsNumber()) text_flags_ = text_flags.As<Napi::Number>().Int64Value();
  memcached_st* master;
  if (info.Length() > 2 && info[2].IsObject()) {
    void* source = nullptr;
    if (napi_unwrap(env, info[2], &source) != napi_ok || source == nullptr || static_cast<Client*>(source)->released_) {
      throw Napi::TypeError::New(env, "Client: source must be a live native Client");
    }
    // The source's master is only ever touched on the JS thread, which this is.
    master = CloneHandle(static_cast<Client*>(source)->engine_->master());
    if (master == nullptr) throw MemcachedError(env, MEMCACHED_MEMORY_ALLOCATION_FAILURE, "out of memory");
  } else {
    master = BuildMaster(env, config);  // (frees what it made when it throws)
  }
  on_complete_ = Napi::Weak(info[1].As<Napi::Function>());

  wake_target_ = new WakeTarget{this};
  napi_status status = napi_create_threadsafe_function(
      env, nullptr, nullptr, Napi::String::New(env, "libmemcached"), 0, 1,
      /* finalize data */ wake_target_, FinalizeWakeTarget, /* context */ wake_target_, CallJs, &tsfn_);
  if (status != napi_ok) {
    delete wake_target_;
    wake_target_ = nullptr;
    memcached_free(master);
    throw Napi::Error::New(env, "cannot create the completion channel");
  }
  napi_unref_threadsafe_function(env, tsfn_);

  napi_threadsafe_function tsfn = tsfn_;
  try {
    // The wake is called from I/O threads, under the completions' lock, never after the engine
    // has shut down (see Completions): the channel is released only after that.
    auto wake = [tsfn] { return napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking) == napi_ok; };
    engine_ = std::make_unique<Engine>(master, config.connections, wake, text_flags_);  // (frees master if it throws)
    engine_->Start();
  } catch (const std::exception& e) {
    if (engine_) engine_->Shutdown();
    engine_.reset();
    wake_target_->client = nullptr;
    napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
    tsfn_ = nullptr;
    released_ = true;
    throw Napi::Error::New(env, std::string("cannot start the client's I/O threads: ") + e.what());
  }
  // Registered after the threadsafe function so that it runs before the function's own
  // teardown (cleanup hooks run in reverse order).
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  ValuePool::Shared().AddUser();
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
  // Within 250 ms, whatever the servers do (a thread blocked on a hung server is left to finish
  // in the background); no wake-up can follow, so the channel can go.
  engine_->Shutdown();
  ValuePool::Shared().RemoveUser();
  // The delivery buffers' references are deleted on both paths. A dying env deletes only the
  // references Node-API owns (wraps, callback data); one made by napi_create_reference it merely
  // unlinks, so skipping this from the cleanup hook leaked both on every worker exit. Deleting
  // them here is safe: Node tears the napi_env down in a cleanup hook of its own, added when the
  // addon was loaded, and hooks run in reverse order, so this one runs first, with the env whole
  // (napi_delete_reference needs no JavaScript). on_complete_ is left to ~Client, which the env
  // runs afterwards as the wrap's finalizer, the env still whole.
  meta_.Drop(Env());
  slab_.Drop(Env());
  wake_target_->client = nullptr;
  napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
  tsfn_ = nullptr;
}

void Client::OnEnvCleanup(void* data) { static_cast<Client*>(data)->Release(true); }

void Client::FinalizeWakeTarget(napi_env, void* data, void*) { delete static_cast<WakeTarget*>(data); }

void Client::CallJs(napi_env env, napi_value, void* context, void*) {
  if (env == nullptr) return;
  Client* client = static_cast<WakeTarget*>(context)->client;
  if (client != nullptr) client->Deliver(env);
}

// submit(headers: Uint32Array, bytes: Buffer, words, objects: unknown[])
// Copies every operation out of JavaScript memory before returning, so the caller may reuse
// both buffers at once. Written with the C API, and failures reported with napi_throw_error:
// in a worker being terminated the calls may fail, and a C++ exception would then escape
// node-addon-api's callback wrapper (its own rethrow fails too) and abort the process.
napi_value Client::SubmitCallback(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_value self;
  void* instance = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, &self, nullptr) != napi_ok || argc < 4 ||
      napi_unwrap(env, self, &instance) != napi_ok || instance == nullptr) {
    return nullptr;
  }
  return static_cast<Client*>(instance)->Submit(env, argv);
}

napi_value Client::Submit(napi_env env, napi_value* argv) {
  auto fail = [env](const char* message) -> napi_value {
    napi_throw_error(env, nullptr, message);  // may itself fail in a dying env: nothing to do then
    return nullptr;
  };
  if (released_) return fail("client is closed");
  napi_typedarray_type type;
  size_t header_count = 0;
  void* header_data = nullptr;
  void* bytes_data = nullptr;
  size_t bytes_length = 0;
  uint32_t words = 0;
  if (napi_get_typedarray_info(env, argv[0], &type, &header_count, &header_data, nullptr, nullptr) != napi_ok ||
      type != napi_uint32_array || napi_get_buffer_info(env, argv[1], &bytes_data, &bytes_length) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &words) != napi_ok) {
    return fail("submit: bad arguments");
  }
  size_t count = words / kRequestWords;  // header slots
  if (count * kRequestWords > header_count) return fail("submit: header array too short");
  const uint32_t* h = static_cast<const uint32_t*>(header_data);
  const char* base = static_cast<const char*>(bytes_data);
  napi_value objects = argv[3];

  // Copies bytes from the byte buffer, or a string/Buffer from the objects array.
  auto copy = [&](uint32_t offset, uint32_t length, std::string& out) -> bool {
    if (offset != kInObjects) {
      if (static_cast<size_t>(offset) + length > bytes_length) return false;
      out.assign(base + offset, length);
      return true;
    }
    napi_value value;
    if (napi_get_element(env, objects, length, &value) != napi_ok) return false;
    return CopyBytes(env, value, out);
  };
  auto read_item = [&](const uint32_t* w, Item& item) -> bool {
    if (!copy(w[kKeyOffset], w[kKeyLength], item.key)) return false;
    if (w[kValueOffset] == kInObjects || w[kValueLength] > 0) {
      if (!copy(w[kValueOffset], w[kValueLength], item.value)) return false;
    } else {
      item.value.clear();
    }
    item.flags = w[kFlags];
    item.exptime = static_cast<time_t>(w[kExptime]);
    item.ResetOutputs();
    return true;
  };

  std::vector<Operation*>& batch = submit_batch_;
  batch.clear();
  auto abandon = [&](const char* message) {
    for (Operation* op : batch) Retire(op);
    batch.clear();
    return fail(message);
  };
  const uint32_t* end = h + count * kRequestWords;
  while (h < end) {
    uint32_t code = h[kCode] & kCodeMask;
    if (code >= kOpCodeCount) return abandon("submit: unknown operation");
    Operation* op = NewOperation();
    batch.push_back(op);
    op->code = static_cast<OpCode>(code);
    op->want_cas = (h[kCode] & kWantCas) != 0;
    op->multi = (h[kCode] & kMulti) != 0;
    op->id = h[kId];
    op->number = static_cast<uint64_t>(h[kNumberHigh]) << 32 | h[kNumberLow];
    uint32_t items = op->multi ? h[kKeyLength] : 1;
    const uint32_t* first = op->multi ? h + kRequestWords : h;
    if (op->multi && items > static_cast<size_t>(end - h) / kRequestWords - 1) {
      return abandon("submit: item headers out of range");
    }
    // The I/O threads rely on each operation's shape: a multi-key operation has keys, and only
    // keyed operations come in that form (a whole-client one reads its argument from items[0]).
    if (op->multi && (items == 0 || !IsKeyed(op->code))) return abandon("submit: malformed multi-key operation");
    op->items.resize(items);
    for (uint32_t i = 0; i < items; i++) {
      if (!read_item(first + i * kRequestWords, op->items[i])) return abandon("submit: bytes out of range");
    }
    h += (op->multi ? items + 1 : 1) * kRequestWords;
  }
  if (batch.empty()) return nullptr;
  if (in_flight_ == 0) {
    napi_reference_ref(env, on_complete_, nullptr);
    napi_ref_threadsafe_function(env, tsfn_);
  }
  in_flight_ += static_cast<uint32_t>(batch.size());
  engine_->Submit(batch);
  return nullptr;
}

// hash(key) -> index of the server `key` maps to. Pure computation on the master handle,
// which never does I/O, so it runs right here on the JS thread.
Napi::Value Client::Hash(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  std::string key;  // a key the TypeScript layer has validated
  if (info.Length() < 1 || !CopyBytes(env, info[0], key)) {
    napi_throw_type_error(env, nullptr, "hash: expected a string or a Buffer");
    return Napi::Value();
  }
  napi_value index = nullptr;
  napi_create_uint32(env, memcached_generate_hash(engine_->master(), key.data(), key.size()), &index);
  return Napi::Value(env, index);
}

// setBehaviors(Uint32Array of id, value pairs): applies behaviors to the master, in order, so
// that hash() sees them and libmemcached can refuse a bad one here, synchronously. Setting never
// does I/O (the master has no connections). The I/O threads get the same words through a
// SetBehaviors operation (IoThread::ApplyBehaviors).
Napi::Value Client::SetBehaviors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw Napi::TypeError::New(env, "setBehaviors: expected a Uint32Array of (id, value) pairs");
  }
  Napi::Uint32Array words = info[0].As<Napi::Uint32Array>();
  memcached_st* master = engine_->master();
  // All or nothing: the words are tried on a copy of the master first, so that one libmemcached
  // refuses never leaves the master half-changed (hash() and clone() would then disagree with
  // the I/O threads, which get the words only once all of them were accepted).
  std::unique_ptr<memcached_st, void (*)(memcached_st*)> trial(CloneHandle(master), memcached_free);
  if (!trial) throw MemcachedError(env, MEMCACHED_MEMORY_ALLOCATION_FAILURE, "setBehaviors: out of memory");
  for (memcached_st* handle : {trial.get(), master}) {
    for (size_t i = 0; i + 1 < words.ElementLength(); i += 2) {
      memcached_return_t rc = memcached_behavior_set(handle, static_cast<memcached_behavior_t>(words[i]), words[i + 1]);
      if (memcached_failed(rc)) {
        throw MemcachedError(env, rc, "behavior " + std::to_string(words[i]) + " = " + std::to_string(words[i + 1]) +
                                          " rejected: " + memcached_last_error_message(handle));
      }
    }
  }
  return env.Undefined();
}

// ioThreads(): how many native I/O threads serve this client.
Napi::Value Client::IoThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(engine_->threads()));
}

// Accounts for `count` operations leaving flight: once none is, the client stops keeping the
// process alive and may be collected.
void Client::Settled(napi_env env, size_t count) {
  in_flight_ -= static_cast<uint32_t>(count);
  if (in_flight_ == 0) {
    napi_reference_unref(env, on_complete_, nullptr);
    if (tsfn_ != nullptr) napi_unref_threadsafe_function(env, tsfn_);
  }
}

// Operations that cannot be delivered (the env is dying, or the delivery's arrays could not be
// made): they leave flight all the same, or the process could never exit.
void Client::Abandon(napi_env env, std::vector<Operation*>& done) {
  for (Operation* op : done) Retire(op);
  Settled(env, done.size());
}

// dispose(): after Close completed, joins the (exited) threads and drops the channel.
Napi::Value Client::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return Napi::Value();
}

// Operations are made and retired on the JS thread only, so a plain free list recycles them
// (and their item vectors' capacity) without locking.
Operation* Client::NewOperation() {
  if (free_operations_.empty()) return new Operation();
  Operation* op = free_operations_.back();
  free_operations_.pop_back();
  retained_bytes_ -= op->retained_bytes;
  op->retained_bytes = 0;
  return op;
}

void Client::Retire(Operation* op) {
  constexpr size_t kFreeOperationsMax = 1024;
  if (free_operations_.size() >= kFreeOperationsMax || op->parent != nullptr) {
    delete op;
    return;
  }
  // A recycled operation keeps its items, whose strings Submit and the I/O thread then refill
  // in place: a steady stream of gets and getMultis allocates nothing per key or value (a
  // getMulti(100) otherwise makes and frees 200 strings, half of them across threads). Only
  // within a budget, so that an idle client holds at most kRetainedBytesMax for it.
  // (4 MiB: a getMulti of 10,000 keys, some 2.7 MB of items and values, is recycled too.)
  constexpr size_t kRetainedBytesMax = 4 << 20;
  size_t bytes = op->items.capacity() * sizeof(Item);
  for (Item& item : op->items) {
    item.large.Reset();  // (a pooled block is not kept idle in a free operation)
    bytes += item.key.capacity() + item.value.capacity() + item.result.capacity();
  }
  if (retained_bytes_ + bytes <= kRetainedBytesMax) {
    op->retained_bytes = bytes;
    retained_bytes_ += bytes;
  } else {
    op->items.clear();
    op->items.shrink_to_fit();
  }
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

void Client::ReusableBuffer::Drop(napi_env env) {
  if (ref != nullptr) napi_delete_reference(env, ref);
  ref = nullptr;
  data = nullptr;
  capacity = 0;
}

// `kept`'s buffer when it holds `size` bytes, else a new one of exactly `size` bytes, kept
// for next time unless larger than `keep_max`. A Uint32Array when `words`, else a Buffer.
// Sets kept.data to the memory to write; nullptr when a call failed.
napi_value Client::Reusable(napi_env env, ReusableBuffer& kept, size_t size, size_t keep_max, bool words) {
  napi_value value = nullptr;
  if (kept.ref != nullptr && kept.capacity >= size && napi_get_reference_value(env, kept.ref, &value) == napi_ok && value != nullptr) {
    return value;
  }
  kept.Drop(env);
  void* data = nullptr;
  if (words) {
    napi_value buffer = nullptr;
    if (napi_create_arraybuffer(env, size, &data, &buffer) != napi_ok ||
        napi_create_typedarray(env, napi_uint32_array, size / sizeof(uint32_t), buffer, 0, &value) != napi_ok) {
      return nullptr;
    }
  } else if (napi_create_buffer(env, size, &data, &value) != napi_ok) {
    return nullptr;
  }
  kept.data = data;
  if (size <= keep_max && napi_create_reference(env, value, 1, &kept.ref) == napi_ok) kept.capacity = size;
  return value;
}

// Calls onComplete(meta, slab, extras, records) once per wake-up, in the format of
// src/protocol.h:
//   meta:   Uint32Array of records, in completion order; only the first `records` are this
//           delivery's (the array is reused)
//   slab:   the small values, back to back, in the order of their records
//   extras: per item kItemExtras, then per operation kOperationExtras, whichever apply
// onComplete returns true when it kept no view of the slab, which may then be reused.
void Client::Deliver(napi_env env) {
  std::vector<Operation*> done = engine_->TakeCompleted();
  if (done.empty()) return;
  // Written with the C API, whose calls report failure instead of throwing: in a worker being
  // terminated any of them may fail at any point, and node-addon-api's error path needs to run
  // JavaScript to build its C++ exception, so it would abort the process. Here a failed call
  // merely yields an empty value; a terminating env has nobody left to deliver to.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    // (A dying env: nobody is left to deliver to.)
    Abandon(env, done);
    return;
  }

  size_t records = 0;
  size_t slab_size = 0;
  for (Operation* op : done) {
    records += op->multi ? op->items.size() + 1 : 1;
    for (const Item& item : op->items) {
      if (item.hit && item.large.empty() && item.result.size() <= kSlabValueMax && slab_size + item.result.size() <= kSlabMax) {
        slab_size += item.result.size();
      }
    }
  }
  // The meta array and the slab are kept from one delivery to the next: JavaScript reads the
  // meta array only during the call, and says (by returning true) when it kept no view of the
  // slab, having decoded every value in it to a string. A slab it keeps a view of is left to it.
  napi_value meta_array = Reusable(env, meta_, records * kRecordWords * sizeof(uint32_t), kMetaKeptMax, true);
  napi_value slab = Reusable(env, slab_, slab_size, kSlabKeptMax, false);
  void* meta_data = meta_.data;
  void* slab_data = slab_.data;
  napi_value extras = nullptr;
  napi_create_array(env, &extras);
  if (meta_array == nullptr || slab == nullptr || extras == nullptr) {
    Abandon(env, done);
    napi_close_handle_scope(env, scope);
    return;
  }
  uint32_t* meta = static_cast<uint32_t*>(meta_data);
  char* slab_cursor = static_cast<char*>(slab_data);
  size_t slab_left = slab_size;
  uint32_t extra = 0;
  auto push = [&](napi_value value) { napi_set_element(env, extras, extra++, value); };
  auto string = [&](const std::string& text) { return NewString(env, text); };
  auto bigint = [&](uint64_t number) {
    napi_value value = nullptr;
    napi_create_bigint_uint64(env, number, &value);
    return value;
  };
  napi_value undefined;
  napi_get_undefined(env, &undefined);

  // Writes an item's value to the slab, or makes it a value of its own (the Value extra);
  // returns its value-length word. A value that cannot be made (out of memory) fails its item,
  // and never reads as a miss.
  napi_value own_value = nullptr;
  bool offered_minor_collection = false;
  auto value = [&](Item& item) -> uint32_t {
    own_value = nullptr;
    if (!item.hit) return kNoValue;
    if (!item.large.empty()) {
      own_value = LargeValue(env, item.large, text_flags_ >= 0 && item.result_flags == static_cast<uint32_t>(text_flags_),
                             offered_minor_collection);
    } else {
      size_t size = item.result.size();
      if (size <= kSlabValueMax && size <= slab_left) {
        // Not for an empty value: the slab may be a zero-length Buffer, whose data pointer is
        // null, and memcpy's pointers must not be null even for 0 bytes (UBSan: nonnull-attribute).
        if (size != 0) memcpy(slab_cursor, item.result.data(), size);
        slab_cursor += size;
        slab_left -= size;
        return static_cast<uint32_t>(size);
      }
      napi_create_buffer_copy(env, size, item.result.data(), nullptr, &own_value);
    }
    if (own_value != nullptr) return kValueInExtras;
    ClearPending(env);
    item.hit = false;
    item.rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return kNoValue;
  };
  // The extras of an item and of an operation, in the order src/protocol.h defines, each when it
  // applies (the conditions are the ones documented on Extra).
  auto item_extras = [&](const Operation* op, const Item& item) {
    for (Extra extra : kItemExtras) {
      switch (extra) {
        case Extra::Value:
          if (own_value != nullptr) push(own_value);
          break;
        case Extra::CasToken:
          if (op->want_cas && item.hit) push(bigint(item.result_cas));
          break;
        default:
          break;
      }
    }
  };
  auto operation_extras = [&](const Operation* op, bool soft) {
    for (Extra extra : kOperationExtras) {
      switch (extra) {
        case Extra::CounterValue:
          if (!op->multi && op->rc == MEMCACHED_SUCCESS && (op->code == OpCode::Incr || op->code == OpCode::Decr)) {
            push(FromUint64(env, op->result_number));
          }
          break;
        case Extra::Stats:
          if (soft && ReturnsStats(op->code)) push(StatsToJs(env, op->stats));
          break;
        case Extra::ErrorMessage:
          if (!soft) push(string(op->error));
          break;
        case Extra::ErrorServer:
          if (!soft) push(op->server.empty() ? undefined : string(op->server));
          break;
        default:
          break;
      }
    }
  };

  for (Operation* op : done) {
    Recycler recycle{this, op};
    bool soft = IsSoftResult(op->rc);
    if (op->multi) {
      meta[kRecordId] = op->id;
      meta[kRecordRc] = op->rc;
      meta[kRecordFlags] = static_cast<uint32_t>(op->items.size());
      meta[kRecordValueLength] = kMultiRecord;
      meta += kRecordWords;
      for (Item& item : op->items) {
        meta[kItemValueLength] = value(item);
        meta[kItemRc] = item.rc;
        meta[kItemFlags] = item.result_flags;
        meta[kItemUnused] = 0;
        meta += kRecordWords;
        item_extras(op, item);
      }
    } else {
      Item* item = op->items.empty() ? nullptr : &op->items[0];
      meta[kRecordValueLength] = item != nullptr ? value(*item) : kNoValue;
      if (item != nullptr && item->rc == MEMCACHED_MEMORY_ALLOCATION_FAILURE && soft) {
        op->rc = item->rc;
        op->error = "out of memory for the value read";
        soft = false;
      }
      meta[kRecordId] = op->id;
      meta[kRecordRc] = op->rc;
      meta[kRecordFlags] = item != nullptr ? item->result_flags : 0;
      meta += kRecordWords;
      if (item != nullptr) item_extras(op, *item);
    }
    operation_extras(op, soft);
  }

  napi_value callback = nullptr;
  if (!on_complete_.IsEmpty()) napi_get_reference_value(env, on_complete_, &callback);
  Settled(env, done.size());
  bool slab_free = false;
  if (callback != nullptr) {
    napi_value count = nullptr;
    napi_create_uint32(env, static_cast<uint32_t>(records), &count);
    napi_value argv[] = {meta_array, slab, extras, count};
    napi_value returned = nullptr;
    // An exception thrown by the callback stays pending: Node reports it as uncaught.
    if (napi_call_function(env, undefined, callback, 4, argv, &returned) == napi_ok && returned != nullptr) {
      napi_get_value_bool(env, returned, &slab_free);
    }
  }
  if (!slab_free) slab_.Drop(env);
  napi_close_handle_scope(env, scope);
}

}  // namespace lmc
