#include "io_thread.h"

#include <string_view>
#include <unordered_map>

#include "engine.h"

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

}  // namespace

IoThread::IoThread(Engine* engine, memcached_st* handle) : engine_(engine), handle_(handle) {
  memcached_result_create(handle_, &result_);
}

IoThread::~IoThread() {
  Stop();
  // Left over only when the environment is torn down with work queued: nobody waits for it.
  for (Operation* op : queue_) {
    if (op->remaining.fetch_sub(1) == 1) delete op;
  }
  if (!closed_) {
    memcached_result_free(&result_);
    memcached_free(handle_);
  }
}

void IoThread::Start() { thread_ = std::thread(&IoThread::Run, this); }

void IoThread::Enqueue(Operation* op) {
  bool notify;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(op);
    notify = idle_;
    idle_ = false;
  }
  // Only a sleeping thread needs the (comparatively costly) futex wake; a busy one will find
  // the operation when it drains the queue after its current batch.
  if (notify) wake_.notify_one();
}

void IoThread::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void IoThread::Run() {
  std::vector<Operation*> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (queue_.empty() && !stopping_) {
        idle_ = true;
        wake_.wait(lock);
      }
      idle_ = false;
      if (stopping_) return;
      batch.swap(queue_);
    }
    Execute(batch);
    engine_->Complete(batch);
    if (closed_) return;
  }
}

void IoThread::Execute(std::vector<Operation*>& batch) {
  Operation** ops = batch.data();
  size_t n = batch.size();
  for (size_t i = 0; i < n;) {
    if (IsRead(ops[i]->code)) {
      size_t j = i + 1;
      while (j < n && IsRead(ops[j]->code)) j++;
      RunReads(ops + i, ops + j);
      i = j;
    } else {
      RunOne(ops[i]);
      i++;
    }
  }
}

void IoThread::Fail(Operation* op, memcached_return_t rc) {
  op->rc = rc;
  if (IsSoftResult(rc)) return;
  op->error = memcached_last_error_message(handle_);
  if (!op->keys.empty() && !op->keys[0].empty()) {
    memcached_return_t ignored;
    const memcached_instance_st* server =
        memcached_server_by_key(handle_, op->keys[0].data(), op->keys[0].size(), &ignored);
    if (server != nullptr) {
      op->server = std::string(memcached_server_name(server)) + ":" +
                   std::to_string(memcached_server_port(server));
    }
  }
}

// Every key of every read op goes into one memcached_mget: one `gets k1 k2 ...` line per server,
// all servers in parallel. Duplicate keys are asked for once and fanned out to every waiter.
void IoThread::RunReads(Operation** begin, Operation** end) {
  struct Waiter {
    Operation* op;
    uint32_t index;
  };
  std::unordered_map<std::string_view, std::vector<Waiter>> waiters;
  std::vector<const char*> keys;
  std::vector<size_t> lengths;
  for (Operation** it = begin; it != end; ++it) {
    Operation* op = *it;
    for (uint32_t i = 0; i < op->keys.size(); i++) {
      const std::string& key = op->keys[i];
      auto [slot, inserted] = waiters.try_emplace(std::string_view(key));
      if (inserted) {
        keys.push_back(key.data());
        lengths.push_back(key.size());
      }
      slot->second.push_back({op, i});
    }
  }
  if (keys.empty()) return;

  memcached_return_t rc = memcached_mget(handle_, keys.data(), lengths.data(), keys.size());
  if (memcached_failed(rc)) {
    for (Operation** it = begin; it != end; ++it) Fail(*it, rc);
    return;
  }
  memcached_return_t fetch_rc;
  while (memcached_fetch_result(handle_, &result_, &fetch_rc) != nullptr) {
    std::string_view key(memcached_result_key_value(&result_), memcached_result_key_length(&result_));
    auto slot = waiters.find(key);
    if (slot == waiters.end()) continue;
    // A stored empty value comes back as a NULL pointer with SUCCESS: hit or miss is decided by
    // the result's presence, never by the pointer.
    const char* data = memcached_result_value(&result_);
    size_t length = memcached_result_length(&result_);
    for (const Waiter& waiter : slot->second) {
      waiter.op->hits.push_back({waiter.index, memcached_result_flags(&result_),
                                 memcached_result_cas(&result_),
                                 data != nullptr ? std::string(data, length) : std::string()});
    }
  }
  if (fetch_rc != MEMCACHED_END && fetch_rc != MEMCACHED_NOTFOUND && fetch_rc != MEMCACHED_SUCCESS) {
    // A server failed mid-fetch. Its keys are indistinguishable from misses in what came back,
    // so every op still missing a key reports the error instead of a miss; ops that got all
    // their keys are complete. The connection state is unknown: start afresh (as pylibmc does).
    for (Operation** it = begin; it != end; ++it) {
      if ((*it)->hits.size() < (*it)->keys.size()) Fail(*it, fetch_rc);
    }
    memcached_quit(handle_);
  }
}

void IoThread::RunOne(Operation* op) {
  const std::string* key = op->keys.empty() ? nullptr : &op->keys[0];
  memcached_return_t rc = MEMCACHED_SUCCESS;
  switch (op->code) {
    case OpCode::Get:
      break;  // handled by RunReads
    case OpCode::Set:
    case OpCode::Add:
    case OpCode::Replace:
    case OpCode::Append:
    case OpCode::Prepend:
      rc = StoreFunction(op->code)(handle_, key->data(), key->size(), op->value.data(),
                                   op->value.size(), op->exptime, op->flags);
      break;
    case OpCode::Cas:
      rc = memcached_cas(handle_, key->data(), key->size(), op->value.data(), op->value.size(),
                         op->exptime, op->flags, op->cas);
      break;
    case OpCode::Delete:
      rc = memcached_delete(handle_, key->data(), key->size(), 0);
      break;
    case OpCode::Incr:
      rc = memcached_increment(handle_, key->data(), key->size(), op->delta, &op->number);
      break;
    case OpCode::Decr:
      rc = memcached_decrement(handle_, key->data(), key->size(), op->delta, &op->number);
      break;
    case OpCode::Touch:
      rc = memcached_touch(handle_, key->data(), key->size(), op->exptime);
      break;
    case OpCode::FlushAll:
      rc = memcached_flush(handle_, op->exptime);
      break;
    case OpCode::Stats:
      CollectStats(op);
      return;
    case OpCode::Disconnect:
      memcached_quit(handle_);
      break;
    case OpCode::Close:
      memcached_result_free(&result_);
      memcached_free(handle_);  // sends `quit` to every connected server
      handle_ = nullptr;
      closed_ = true;
      break;
  }
  if (rc != MEMCACHED_SUCCESS) Fail(op, rc);
}

void IoThread::CollectStats(Operation* op) {
  memcached_return_t rc;
  memcached_stat_st* stats =
      memcached_stat(handle_, op->arg.empty() ? nullptr : const_cast<char*>(op->arg.c_str()), &rc);
  if (stats == nullptr) {
    Fail(op, rc);
    return;
  }
  uint32_t count = memcached_server_count(handle_);
  for (uint32_t i = 0; i < count; i++) {
    const memcached_instance_st* server = memcached_server_instance_by_position(handle_, i);
    std::string name = std::string(memcached_server_name(server)) + ":" +
                       std::to_string(memcached_server_port(server)) + " (" + std::to_string(i) + ")";
    std::vector<std::pair<std::string, std::string>> entries;
    memcached_return_t key_rc;
    char** keys = memcached_stat_get_keys(handle_, &stats[i], &key_rc);
    for (char** k = keys; k != nullptr && *k != nullptr; k++) {
      memcached_return_t value_rc;
      char* value = memcached_stat_get_value(handle_, &stats[i], *k, &value_rc);
      if (value != nullptr) {
        entries.emplace_back(*k, value);
        free(value);
      }
    }
    free(keys);
    op->stats.emplace_back(std::move(name), std::move(entries));
  }
  memcached_stat_free(handle_, stats);
  if (rc != MEMCACHED_SUCCESS) Fail(op, rc);
}

}  // namespace lmc
