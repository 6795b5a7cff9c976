// An I/O thread: runs batches of operations on its own libmemcached handle.
#include "io_thread.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>
#include <string_view>

#include "engine.h"
#include "libmemcached_private.h"

namespace lmc {

namespace {

using StoreFn = memcached_return_t (*)(memcached_st*, const char*, size_t, const char*, size_t,
                                       time_t, uint32_t);

StoreFn StoreFunction(OpCode code) {
  switch (code) {
    case OpCode::Add:
      return memcached_add;
    case OpCode::Replace:
      return memcached_replace;
    case OpCode::Append:
      return memcached_append;
    case OpCode::Prepend:
      return memcached_prepend;
    default:
      return memcached_set;
  }
}

// A pipelined chunk stays below libmemcached's IO watermarks (by default 500 replies
// outstanding, 66560 bytes sent before a read): past them its purge reads and throws replies
// away. See RunWrites.
constexpr size_t kChunkReplies = 400;
constexpr size_t kChunkBytes = 60000;
constexpr size_t kChunkBytesMargin = 1024;  // below the bytes watermark: kRequestOverhead is a guess
constexpr size_t kRequestOverhead = 64;     // command, flags, lengths, CRLFs

constexpr size_t kFirstReadChunk = 16;  // keys; see Execute

// "host:port", as errors and stats name a server.
std::string ServerName(const memcached_instance_st* server) {
  return std::string(memcached_server_name(server)) + ":" + std::to_string(memcached_server_port(server));
}

}  // namespace

IoThread::IoThread(std::shared_ptr<Completions> completions, memcached_st* handle)
    : completions_(std::move(completions)), handle_(handle) {
  if (memcached_result_create(handle_, &result_) == nullptr) {
    memcached_free(handle_);
    throw std::bad_alloc();
  }
#ifndef LIBMEMCACHED_SYSTEM
  // Sets and deletes are written without waiting for their replies, which RunWrites then reads
  // one by one. (UDP has no replies; libmemcached refuses buffering there.)
  can_pipeline_ = !memcached_behavior_get(handle_, MEMCACHED_BEHAVIOR_USE_UDP) &&
                  memcached_behavior_get(handle_, MEMCACHED_BEHAVIOR_NOREPLY) == 0;
#endif
  SetOwnBehaviors();
}

// The behaviors this thread's reads and writes rely on, whatever the user configured: set when
// the thread is made and again after setBehaviors. Returns false when libmemcached refused one.
bool IoThread::SetOwnBehaviors() {
  // `gets` costs the server no more than `get`, and always asking for CAS tokens lets gets()
  // share a memcached_mget with plain gets. Without them a gets() would hand out a token of 0.
  cas_ = memcached_success(memcached_behavior_set(handle_, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1));
#ifndef LIBMEMCACHED_SYSTEM
  // Under the random distribution each lookup of a key's server is a new random pick, so the
  // server a pipelined write went to could not be found again to read its reply (RunWrites looks
  // it up after the write): writes then go one round trip at a time, as libmemcached's own.
  bool random = memcached_behavior_get(handle_, MEMCACHED_BEHAVIOR_DISTRIBUTION) == MEMCACHED_DISTRIBUTION_RANDOM;
  bool pipeline = can_pipeline_ && !random;
  memcached_return_t rc = memcached_behavior_set(handle_, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, pipeline ? 1 : 0);
  pipelining_ = pipeline && memcached_success(rc);
#endif
  return cas_;
}

IoThread::~IoThread() {
  // Left over when the client was torn down with work queued: nobody waits for it.
  for (Operation* op : queue_) DiscardOperation(op);
  FreeHandle();
}

void IoThread::FreeHandle() {
  if (handle_ == nullptr) return;
  memcached_result_free(&result_);
  memcached_free(handle_);  // sends `quit` to every connected server
  handle_ = nullptr;
}

void IoThread::Start(const std::shared_ptr<IoThread>& self) {
  self->thread_ = std::thread([self] { self->Run(); });
}

void IoThread::Enqueue(const std::vector<Operation*>& ops) {
  bool notify;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.insert(queue_.end(), ops.begin(), ops.end());
    notify = idle_;
    idle_ = false;
  }
  // Only a sleeping thread needs the (comparatively costly) futex wake; a busy one will find
  // the operations when it drains the queue after its current batch.
  if (notify) wake_.notify_one();
}

void IoThread::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

void IoThread::JoinOrDetach(std::chrono::steady_clock::time_point deadline) {
  if (!thread_.joinable()) return;
  bool exited;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    exited = wake_.wait_until(lock, deadline, [this] { return exited_; });
  }
  if (exited) {
    thread_.join();
  } else {
    thread_.detach();
  }
}

void IoThread::Run() {
#ifdef __linux__
  // Named, so that top, perf and gdb tell these threads from Node's own.
  pthread_setname_np(pthread_self(), "memcached-io");
#endif
  std::vector<Operation*> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (queue_.empty() && !stopping_) {
        idle_ = true;
        wake_.wait(lock);
      }
      idle_ = false;
      if (stopping_) break;
      batch.swap(queue_);
    }
    Execute(batch);
    Complete(batch);
    if (closed_) break;
  }
  // The handle is freed here, on this thread, rather than by whoever destroys this object: its
  // goodbyes to the servers can block (a hung server) and must not hold the JS thread.
  FreeHandle();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    exited_ = true;
  }
  wake_.notify_all();
}

// Completions::Add allocates nothing once it has reserved its room, which is the only thing
// that can throw: under memory pressure it is tried again rather than let an exception end the
// thread (std::terminate) or leave the operations' promises unsettled.
void IoThread::Complete(std::vector<Operation*>& done) {
  for (int attempt = 0;; attempt++) {
    try {
      completions_->Add(done);
      return;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 1 : 100));
    }
  }
}

// Runs `run` on the operations [begin, end); should it throw (libmemcached is C and throws
// nothing, but copying a value can fail to allocate), those operations fail with a typed error
// instead of the exception escaping the thread, and every connection of the handle is dropped,
// since some of them may owe replies nobody will read.
template <typename Fn>
void IoThread::Contain(Operation** begin, Operation** end, Fn&& run) {
  const char* what = nullptr;
  memcached_return_t rc = MEMCACHED_FAILURE;
  try {
    run();
    return;
  } catch (const std::bad_alloc& e) {
    rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    what = e.what();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  std::string message = std::string("native exception on the I/O thread: ") + what;
  for (Operation** it = begin; it != end; ++it) {
    Operation* op = *it;
    if (op == nullptr) continue;
    for (Item& item : op->items) {
      item.rc = rc;
      item.hit = false;
    }
    if (IsSoftResult(op->rc)) {
      op->rc = rc;
      op->error = message;
      op->server.clear();
    }
  }
  DropConnections();
}

void IoThread::DropConnections() {
#ifndef LIBMEMCACHED_SYSTEM
  uint32_t count = memcached_server_count(handle_);
  for (uint32_t i = 0; i < count; i++) {
    memcached_quit_server(const_cast<memcached_instance_st*>(memcached_server_instance_by_position(handle_, i)), true);
  }
#else
  memcached_quit(handle_);
#endif
}

void IoThread::Execute(std::vector<Operation*>& batch) {
  Operation** ops = batch.data();
  size_t n = batch.size();
  size_t chunk = kFirstReadChunk;
  for (size_t i = 0; i < n;) {
    OpCode code = ops[i]->code;
    if (IsRead(code) || (pipelining_ && IsPipelined(code))) {
      size_t j = i + 1;
      if (IsRead(code)) {
        // A long run of gets is fetched in chunks that double in size (16 keys, then 32, 64,
        // ...), and each chunk's results go to JavaScript as soon as they are in. JavaScript
        // then resolves them, and its callers send their next requests, while this thread
        // fetches the rest: the two threads work at once instead of taking turns. Measured on
        // 2 cores: 64 gets in flight 1.5x faster, a burst of 10000 gets 1.3x faster, against one
        // mget per run.
        size_t keys = ops[i]->items.size();
        while (j < n && IsRead(ops[j]->code) && keys < chunk) keys += ops[j++]->items.size();
        chunk *= 2;
        Contain(ops + i, ops + j, [&] { RunReads(ops + i, ops + j); });
        if (j < n) {
          // More work follows: hand these results over now, so that JavaScript resolves them
          // (and issues its next requests) while this thread runs the rest.
          // (Should copying the pointers fail to allocate, they simply complete with the batch.)
          bool early = false;
          try {
            early_.assign(ops + i, ops + j);
            early = true;
          } catch (const std::exception&) {
          }
          if (early) {
            Complete(early_);
            std::fill(ops + i, ops + j, nullptr);
          }
        }
      } else {
        while (j < n && IsPipelined(ops[j]->code)) j++;
        Contain(ops + i, ops + j, [&] { RunWrites(ops + i, ops + j); });
      }
      i = j;
    } else {
      Contain(ops + i, ops + i + 1, [&] { RunOne(ops[i]); });
      i++;
    }
  }
}

std::string IoThread::ServerOf(const std::string& key) {
  memcached_return_t ignored;
  const memcached_instance_st* server = memcached_server_by_key(handle_, key.data(), key.size(), &ignored);
  return server != nullptr ? ServerName(server) : std::string();
}

void IoThread::Fail(Operation* op, Item* item, memcached_return_t rc, const char* detail) {
  if (item != nullptr) item->rc = rc;
  if (IsSoftResult(rc)) {
    if (!op->multi) op->rc = rc;
    return;
  }
  // The operation reports its first failure; a multi-key one also keeps each item's code.
  if (!IsSoftResult(op->rc)) return;
  op->rc = rc;
  op->error = detail != nullptr ? detail : memcached_last_error_message(handle_);
  if (rc == MEMCACHED_SERVER_MARKED_DEAD || rc == MEMCACHED_SERVER_TEMPORARILY_DISABLED) {
    // The key may map elsewhere by now (an ejection rebuilds the ring): name the failed server.
    const memcached_instance_st* failed = memcached_server_get_last_disconnect(handle_);
    if (failed != nullptr) {
      op->server = ServerName(failed);
      return;
    }
  }
  if (item != nullptr && !item->key.empty()) op->server = ServerOf(item->key);
}

// Every key of a run of gets goes into one memcached_mget: one `gets k1 k2 ...` line per
// server, all servers in parallel. A key asked for twice is sent once and fanned out to every
// item waiting for it. The keys are indexed in an open-addressing table whose storage is kept
// from batch to batch, so this allocates nothing per key (and costs far less than sorting them).
void IoThread::RunReads(Operation** begin, Operation** end) {
  std::vector<ReadItem>& items = read_items_;
  items.clear();
  for (Operation** it = begin; it != end; ++it) {
    if ((*it)->want_cas && !cas_) {
      // (libmemcached refused to ask for CAS tokens: a gets() would hand out a token of 0.)
      for (Item& item : (*it)->items) Fail(*it, &item, MEMCACHED_NOT_SUPPORTED, "CAS tokens are not available on this connection");
      continue;
    }
    for (Item& item : (*it)->items) items.push_back({&item, *it, kNoItem});
  }
  size_t slots = 16;
  while (slots < 2 * items.size()) slots *= 2;
  read_table_.assign(slots, kNoItem);
  read_heads_.clear();
  read_keys_.clear();
  read_lengths_.clear();
  for (uint32_t i = 0; i < items.size(); i++) {
    const std::string& key = items[i].item->key;
    uint32_t* slot = FindReadSlot(key);
    if (*slot == kNoItem) {
      *slot = static_cast<uint32_t>(read_heads_.size());
      read_heads_.push_back({i, i});
      read_keys_.push_back(key.data());
      read_lengths_.push_back(key.size());
    } else {
      ReadHead& head = read_heads_[*slot];
      items[head.last].next = i;
      head.last = i;
    }
  }
  if (read_heads_.empty()) return;
  read_asked_.resize(read_heads_.size());
  for (uint32_t k = 0; k < read_heads_.size(); k++) read_asked_[k] = k;
  Fetch(true);
}

// The slot of read_table_ that holds `key`'s index in read_heads_, or the empty one where it
// belongs (the table is at least twice as large as the number of keys: there always is one).
uint32_t* IoThread::FindReadSlot(std::string_view key) {
  size_t mask = read_table_.size() - 1;
  for (size_t s = std::hash<std::string_view>()(key) & mask;; s = (s + 1) & mask) {
    uint32_t& slot = read_table_[s];
    if (slot == kNoItem || read_items_[read_heads_[slot].first].item->key == key) return &slot;
  }
}

// What `server` failed with in the handle's current query, or MEMCACHED_SUCCESS. The shared
// library cannot tell one query from another: there, any error the server ever had counts.
memcached_return_t IoThread::ServerFailure(const memcached_instance_st* server) {
#ifndef LIBMEMCACHED_SYSTEM
  return memcached_server_query_error(server);
#else
  return memcached_server_error_return(server);
#endif
}

// How many times the handle's server distribution has been rebuilt (an ejected server's keys
// moving to the others, or coming back). The shared library does not count: there, keys may
// always have moved.
uint64_t IoThread::RingGeneration() {
#ifndef LIBMEMCACHED_SYSTEM
  return handle_->distribution_generation;
#else
  return ++ring_generation_;
#endif
}

// Runs the mget of read_keys_ (the keys of read_heads_ listed in read_asked_) and hands each
// result to every item asking for its key. A key that got no value either missed or belongs to
// a server that failed during this fetch (refused the connection, timed out, sent an error or a
// malformed reply): its items then fail with that server's error, never read as a miss, and
// never because of another server. When a failure has made the distribution change (failover
// ejected a server), the keys without a value whose server did not fail may belong elsewhere
// now: they are asked again, once (`may_retry`).
void IoThread::Fetch(bool may_retry) {
  uint64_t generation = RingGeneration();
  refused_ = nullptr;
  refused_server_ = nullptr;
  memcached_return_t rc = memcached_mget(handle_, read_keys_.data(), read_lengths_.data(), read_keys_.size());
  if (rc == MEMCACHED_SERVER_MARKED_DEAD) {
    // As in RunItem: this call ejected the only server asked; the keys map elsewhere now.
    rc = memcached_mget(handle_, read_keys_.data(), read_lengths_.data(), read_keys_.size());
  }
  // SOME_ERRORS: some servers were asked, others failed (each keeps its error).
  bool sent = !memcached_failed(rc) || rc == MEMCACHED_SOME_ERRORS;
  memcached_return_t fetch_rc = MEMCACHED_END;
  if (sent) {
    while (memcached_fetch_result(handle_, &result_, &fetch_rc) != nullptr) {
      std::string_view key(memcached_result_key_value(&result_), memcached_result_key_length(&result_));
      uint32_t head = *FindReadSlot(key);
      if (head == kNoItem) {
        // A value for a key nobody asked for: that server's replies cannot be matched to
        // requests any more (a reply that lags behind, a proxy that mixed connections up, a
        // liar). Its connection is closed and its keys of this fetch fail below; a value is
        // never handed to another key.
        RefuseServer(MEMCACHED_PROTOCOL_ERROR, "a value for a key that was not asked for");
        continue;
      }
      ReadHead& asked = read_heads_[head];
      if (read_items_[asked.first].item->hit) {
        // Each key is asked once per fetch, so a second value for it is a reply nobody asked for.
        RefuseServer(MEMCACHED_PROTOCOL_ERROR, "a second value for one key");
        continue;
      }
#ifndef LIBMEMCACHED_SYSTEM
      asked.from = handle_->fetched_from;
#endif
      // A stored empty value comes back as a NULL pointer with SUCCESS: hit or miss is decided
      // by the result's presence, never by the pointer.
      const char* data = memcached_result_value(&result_);
      size_t length = data != nullptr ? memcached_result_length(&result_) : 0;
      for (uint32_t i = read_heads_[head].first; i != kNoItem; i = read_items_[i].next) {
        Item* item = read_items_[i].item;
        item->hit = true;
        item->result.assign(data != nullptr ? data : "", length);
        item->result_flags = memcached_result_flags(&result_);
        item->result_cas = memcached_result_cas(&result_);
      }
    }
  }
  // memcached_mget skips a server it cannot connect to (or write to) and still reports success,
  // or SOME_ERRORS: that server's keys would look like misses. Any error recorded since the mget
  // began (it clears them) says some server failed; then each key without a value is sorted out
  // below. Otherwise every key without a value truly missed.
  bool fetched = fetch_rc == MEMCACHED_END || fetch_rc == MEMCACHED_NOTFOUND || fetch_rc == MEMCACHED_SUCCESS;
  if (rc == MEMCACHED_SUCCESS && fetched && refused_ == nullptr && !memcached_failed(memcached_last_error(handle_))) {
    return;
  }
#ifdef LIBMEMCACHED_SYSTEM
  DropUnreadReplies();
#endif
  bool moved = RingGeneration() != generation;
  read_retry_.clear();
  for (uint32_t k : read_asked_) {
    Item* first = read_items_[read_heads_[k].first].item;
    // The server this key's answer was to come from, and how it failed in this query.
    const memcached_instance_st* server;
    if (first->hit) {
#ifdef LIBMEMCACHED_SYSTEM
      continue;
#else
      // A value from a server whose replies then broke off or went wrong is not trusted either:
      // in the binary protocol a lying body length makes a value swallow the packets after it,
      // and only the failure that follows shows it.
      server = static_cast<const memcached_instance_st*>(read_heads_[k].from);
      if (server == nullptr || !memcached_failed(ServerFailure(server))) continue;
      for (uint32_t i = read_heads_[k].first; i != kNoItem; i = read_items_[i].next) read_items_[i].item->ResetOutputs();
#endif
    } else {
      memcached_return_t ignored;
      server = memcached_server_by_key(handle_, first->key.data(), first->key.size(), &ignored);
    }
    memcached_return_t failure = server != nullptr ? ServerFailure(server) : MEMCACHED_SUCCESS;
    if (!memcached_failed(failure) && !sent) failure = rc;  // nothing was asked
#ifdef LIBMEMCACHED_SYSTEM
    if (!memcached_failed(failure) && refused_ != nullptr) failure = MEMCACHED_PROTOCOL_ERROR;
#endif
    if (memcached_failed(failure)) {
      const char* detail = refused_ != nullptr && (server == refused_server_ || refused_server_ == nullptr) ? refused_ : nullptr;
      for (uint32_t i = read_heads_[k].first; i != kNoItem; i = read_items_[i].next) {
        Fail(read_items_[i].op, read_items_[i].item, failure, detail);
      }
    } else if (moved) {
      read_retry_.push_back(k);
    }
  }
  if (read_retry_.empty() || !may_retry) return;
  read_asked_.swap(read_retry_);
  read_keys_.clear();
  read_lengths_.clear();
  for (uint32_t k : read_asked_) {
    const std::string& key = read_items_[read_heads_[k].first].item->key;
    read_keys_.push_back(key.data());
    read_lengths_.push_back(key.size());
  }
  Fetch(false);
}

// Fails the server the last fetched result came from, for the rest of this query.
void IoThread::RefuseServer(memcached_return_t rc, const char* why) {
#ifndef LIBMEMCACHED_SYSTEM
  auto* server = const_cast<memcached_instance_st*>(handle_->fetched_from);
  if (server == nullptr) return;
  memcached_server_query_failed(server, rc);
  memcached_quit_server(server, true);
  refused_ = why;
  refused_server_ = server;
#else
  // The shared library cannot tell which server sent it: the whole fetch is refused.
  refused_ = why;
  memcached_quit(handle_);
#endif
}

#ifdef LIBMEMCACHED_SYSTEM
// After a failed fetch, the connections still owing replies are closed, so that no later
// request reads them as its own (the bundled library's fetch does this itself).
void IoThread::DropUnreadReplies() {
  uint32_t count = memcached_server_count(handle_);
  for (uint32_t i = 0; i < count; i++) {
    const memcached_instance_st* server = memcached_server_instance_by_position(handle_, i);
    if (memcached_server_response_count(server) != 0) {
      memcached_quit(handle_);  // the shared library exports no per-server close
      return;
    }
  }
}
#endif

// Sets and deletes, pipelined: with BUFFER_REQUESTS, libmemcached queues each command without
// waiting for its reply (returning MEMCACHED_BUFFERED); a chunk is then flushed to every server
// at once and each reply read in order, so every caller still gets its own true answer.
void IoThread::RunWrites(Operation** begin, Operation** end) {
  // A chunk stays below libmemcached's IO watermarks, read from the handle each time since
  // setBehaviors may have lowered them (_io_msg_watermark, _io_bytes_watermark): past them, its
  // purge reads replies and throws them away, and callers would get one another's answers.
  // A chunk always takes one item, however large: with one reply owed, purge reads nothing.
  uint64_t messages = memcached_behavior_get(handle_, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK);
  uint64_t bytes_mark = memcached_behavior_get(handle_, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK);
  size_t max_replies = messages > 1 ? static_cast<size_t>(std::min<uint64_t>(kChunkReplies, messages - 1)) : 1;
  size_t max_bytes = bytes_mark > kChunkBytes + kChunkBytesMargin ? kChunkBytes
                     : bytes_mark > kChunkBytesMargin         ? static_cast<size_t>(bytes_mark - kChunkBytesMargin)
                                                               : 0;
  chunk_.clear();
  size_t chunk_bytes = 0;
  for (Operation** it = begin; it != end; ++it) {
    Operation* op = *it;
    for (Item& item : op->items) {
      size_t bytes = item.key.size() + item.value.size() + kRequestOverhead;
      if (!chunk_.empty() && (chunk_.size() >= max_replies || chunk_bytes + bytes > max_bytes)) {
        DrainChunk();
        chunk_bytes = 0;
      }
      memcached_return_t rc = RunItem(op, item);
      if (rc == MEMCACHED_BUFFERED) {
        // The server the command went to, looked up after the call: the call itself may have
        // rebuilt the ring first (a failed server's dead_timeout passing), and the reply must
        // be read from where the command went.
        memcached_return_t ignored;
        const memcached_instance_st* server = memcached_server_by_key(handle_, item.key.data(), item.key.size(), &ignored);
        chunk_.push_back({&item, op, const_cast<memcached_instance_st*>(server)});
        chunk_bytes += bytes;
      } else {
        Fail(op, &item, rc == MEMCACHED_DELETED || rc == MEMCACHED_STORED ? MEMCACHED_SUCCESS : rc);
      }
    }
  }
  if (!chunk_.empty()) DrainChunk();
}

void IoThread::DrainChunk() {
#ifndef LIBMEMCACHED_SYSTEM
  memcached_return_t flush_rc = memcached_flush_buffers(handle_);
  for (const Pending& pending : chunk_) {
    memcached_return_t rc;
    if (pending.server == nullptr || memcached_server_response_count(pending.server) == 0) {
      // The connection failed (while flushing, or a timeout on an earlier reply closed it):
      // these replies will never come. The server's own error says why.
      memcached_return_t server_rc = pending.server != nullptr ? memcached_server_error_return(pending.server) : MEMCACHED_SUCCESS;
      rc = memcached_failed(flush_rc) ? flush_rc : memcached_failed(server_rc) ? server_rc : MEMCACHED_CONNECTION_FAILURE;
    } else {
      rc = memcached_read_one_response(pending.server, &result_);
      // A reply that is not one this command can get (a number, VALUE, OK, ...) is a protocol
      // error, never "stored" or "deleted"; the connection is closed.
      rc = memcached_response_check(pending.server, rc, pending.op->code == OpCode::Delete ? kReplyToDelete : kReplyToStore);
      if (rc == MEMCACHED_STORED || rc == MEMCACHED_DELETED) rc = MEMCACHED_SUCCESS;
    }
    Fail(pending.op, pending.item, rc);
  }
#endif
  chunk_.clear();
}

void IoThread::RunOne(Operation* op) {
  switch (op->code) {
    case OpCode::FlushAll:
#ifndef LIBMEMCACHED_SYSTEM
      if (op->part == Operation::Part::Server) {
        memcached_return_t rc = memcached_flush_server(handle_, op->server_index, op->items[0].exptime);
        if (memcached_failed(rc)) op->server = ServerName(memcached_server_instance_by_position(handle_, op->server_index));
        Fail(op, nullptr, rc);
        return;
      }
#endif
      Fail(op, nullptr, memcached_flush(handle_, op->items[0].exptime));
      return;
    case OpCode::Stats:
      CollectStats(op);
      return;
    case OpCode::Disconnect:
      memcached_quit(handle_);
      return;
    case OpCode::GetBehaviors:
      ReadBehaviors(op);
      return;
    case OpCode::SetBehaviors:
      ApplyBehaviors(op);
      return;
    case OpCode::Close:
      FreeHandle();
      closed_ = true;
      return;
    default:
      break;
  }
  // Keyed operations not pipelined here, item by item (a multi-key add or incr, or every write
  // when pipelining is off).
  for (Item& item : op->items) {
    memcached_return_t rc = RunItem(op, item);
    Fail(op, &item, rc == MEMCACHED_DELETED || rc == MEMCACHED_STORED ? MEMCACHED_SUCCESS : rc);
  }
}

// The call that finds a failed server past failure_limit ejects it (remove_failed) and returns
// SERVER_MARKED_DEAD without sending anything; the key now maps to a living server, so the
// item is run once more there rather than failed.
memcached_return_t IoThread::RunItem(Operation* op, Item& item) {
  memcached_return_t rc = RunItemOnce(op, item);
  return rc == MEMCACHED_SERVER_MARKED_DEAD ? RunItemOnce(op, item) : rc;
}

memcached_return_t IoThread::RunItemOnce(Operation* op, Item& item) {
  const char* key = item.key.data();
  size_t length = item.key.size();
  memcached_return_t rc = MEMCACHED_SUCCESS;
  switch (op->code) {
    case OpCode::Set:
    case OpCode::Add:
    case OpCode::Replace:
    case OpCode::Append:
    case OpCode::Prepend:
      rc = StoreFunction(op->code)(handle_, key, length, item.value.data(), item.value.size(), item.exptime,
                                   item.flags);
      break;
    case OpCode::Cas:
      rc = memcached_cas(handle_, key, length, item.value.data(), item.value.size(), item.exptime, item.flags,
                         op->number);
      break;
    case OpCode::Delete:
      rc = memcached_delete(handle_, key, length, 0);
      break;
    case OpCode::Incr:
      rc = memcached_increment(handle_, key, length, op->number, &op->result_number);
      break;
    case OpCode::Decr:
      rc = memcached_decrement(handle_, key, length, op->number, &op->result_number);
      break;
    case OpCode::Touch:
      rc = memcached_touch(handle_, key, length, item.exptime);
      break;
    default:
      break;  // Get: always handled by RunReads
  }
  return rc;
}

// GetBehaviors: the item's value is the behavior ids as little-endian uint32s; the result is
// one stats entry of (id, value) pairs, as decimal text. Here, not on the JS thread: reading
// the socket sizes connects to a server.
void IoThread::ReadBehaviors(Operation* op) {
  const std::string& ids = op->items[0].value;
  std::vector<std::pair<std::string, std::string>> values;
  for (size_t at = 0; at + 4 <= ids.size(); at += 4) {
    uint32_t id;
    memcpy(&id, ids.data() + at, 4);
    uint64_t value = memcached_behavior_get(handle_, static_cast<memcached_behavior_t>(id));
    values.emplace_back(std::to_string(id), std::to_string(value));
  }
  op->stats.emplace_back(std::string(), std::move(values));
}

// SetBehaviors: the item's value is (uint32 id, uint32 value) pairs, the words the master
// accepted already (Client::SetBehaviors), so a failure here is not expected; it is reported
// all the same. What this thread relies on is put back afterwards.
void IoThread::ApplyBehaviors(Operation* op) {
  const std::string& pairs = op->items[0].value;
  for (size_t at = 0; at + 8 <= pairs.size(); at += 8) {
    uint32_t word[2];
    memcpy(word, pairs.data() + at, 8);
    memcached_return_t rc = memcached_behavior_set(handle_, static_cast<memcached_behavior_t>(word[0]), word[1]);
    if (memcached_failed(rc)) Fail(op, nullptr, rc);
  }
  SetOwnBehaviors();
}

// One server's statistics as pylibmc lists them: its name and index, then the keys libmemcached
// knows with their values, as text.
void IoThread::AddStats(Operation* op, uint32_t index, memcached_stat_st* stat) {
  const memcached_instance_st* server = memcached_server_instance_by_position(handle_, index);
  std::string name = ServerName(server) + " (" + std::to_string(index) + ")";
  std::vector<std::pair<std::string, std::string>> entries;
  memcached_return_t key_rc;
  char** keys = memcached_stat_get_keys(handle_, stat, &key_rc);
  for (char** k = keys; k != nullptr && *k != nullptr; k++) {
    memcached_return_t value_rc;
    char* value = memcached_stat_get_value(handle_, stat, *k, &value_rc);
    if (value != nullptr) {
      entries.emplace_back(*k, value);
      free(value);
    }
  }
  free(keys);
  op->stats.emplace_back(std::move(name), std::move(entries));
}

void IoThread::CollectStats(Operation* op) {
  memcached_return_t rc;
  std::string& group = op->items[0].value;  // the stats group, or empty for the general stats
  const char* args = group.empty() ? nullptr : group.c_str();
#ifndef LIBMEMCACHED_SYSTEM
  if (op->part == Operation::Part::Server) {
    // This thread's server alone (Engine::SplitByServer): a slow server delays only its part.
    memcached_stat_st stat;
    rc = memcached_stat_server(handle_, op->server_index, args, &stat);
    if (memcached_failed(rc)) {
      op->server = ServerName(memcached_server_instance_by_position(handle_, op->server_index));
      Fail(op, nullptr, rc);
      return;
    }
    AddStats(op, op->server_index, &stat);
    return;
  }
#endif
  memcached_stat_st* stats = memcached_stat(handle_, const_cast<char*>(args), &rc);
  if (stats == nullptr) {
    Fail(op, nullptr, rc);
    return;
  }
  uint32_t count = memcached_server_count(handle_);
  for (uint32_t i = 0; i < count; i++) AddStats(op, i, &stats[i]);
  memcached_stat_free(handle_, stats);
  Fail(op, nullptr, rc);
}

}  // namespace lmc
