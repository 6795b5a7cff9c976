// An I/O thread's one-off commands: stores, cas, counters, touch and deletes outside a pipeline,
// flush and stats per server, and reading and applying behaviors.
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/io_thread.h"
#include "core/libmemcached_private.h"

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

namespace {

// The statistics a server sends for a stats group (memcached_stat_fn). The callback runs inside
// libmemcached's read loop, which must not be unwound: an allocation failure is recorded and
// reported after the call instead.
struct GroupStats {
  std::vector<std::pair<std::string, std::string>> entries;
  bool out_of_memory = false;
};

memcached_return_t CollectStat(const memcached_instance_st*, const char* key, size_t key_length, const char* value,
                               size_t value_length, void* context) {
  auto* group = static_cast<GroupStats*>(context);
  try {
    group->entries.emplace_back(std::string(key, key_length), std::string(value, value_length));
  } catch (...) {
    group->out_of_memory = true;
  }
  return MEMCACHED_SUCCESS;
}

}  // namespace

void IoThread::CollectStats(Operation* op) {
  memcached_return_t rc;
  std::string& group = op->items[0].value;  // the stats group, or empty for the general stats
  const char* args = group.empty() ? nullptr : group.c_str();
#ifndef LIBMEMCACHED_SYSTEM
  // One server at a time, each answer checked: this thread's server alone when the operation was
  // split by server (Engine::SplitByServer: a slow server delays only its part), else every
  // server of the handle in turn. A group's statistics are taken as sent (memcached_stat_st has
  // fields for the general ones only); the general statistics are the fields pylibmc lists.
  bool split = op->part == Operation::Part::Server;
  uint32_t first = split ? op->server_index : 0;
  uint32_t last = split ? op->server_index + 1 : memcached_server_count(handle_);
  for (uint32_t index = first; index < last; index++) {
    memcached_stat_st stat;
    GroupStats sent;
    rc = memcached_stat_server(handle_, index, args, &stat, args ? CollectStat : nullptr, &sent);
    if (memcached_success(rc) and sent.out_of_memory) rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    if (memcached_failed(rc)) {
      op->server = ServerName(memcached_server_instance_by_position(handle_, index));
      Fail(op, nullptr, rc);
      return;
    }
    if (args == nullptr) {
      AddStats(op, index, &stat);
    } else {
      const memcached_instance_st* server = memcached_server_instance_by_position(handle_, index);
      op->stats.emplace_back(ServerName(server) + " (" + std::to_string(index) + ")", std::move(sent.entries));
    }
  }
  return;
#else
  // A distribution's libmemcached has no per-server statistics: memcached_stat for all servers,
  // and for a group only the general fields, filled with defaults (as pylibmc gets them).
  memcached_stat_st* stats = memcached_stat(handle_, const_cast<char*>(args), &rc);
  if (stats == nullptr) {
    Fail(op, nullptr, rc);
    return;
  }
  uint32_t count = memcached_server_count(handle_);
  for (uint32_t i = 0; i < count; i++) AddStats(op, i, &stats[i]);
  memcached_stat_free(handle_, stats);
  Fail(op, nullptr, rc);
#endif
}

}  // namespace lmc
