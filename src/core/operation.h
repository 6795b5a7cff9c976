// One request from JavaScript, carried to an I/O thread and back.
//
// Everything an I/O thread needs is copied into the Operation on the JS thread, and everything
// JavaScript needs is copied out of libmemcached on the I/O thread: the two threads never share
// a napi value or a libmemcached buffer.
//
// An operation holds one item per key: one for get/set/delete/..., many for the multi-key
// calls. An I/O thread coalesces the items of consecutive gets into one memcached_mget and
// pipelines the items of consecutive sets and deletes, whatever operations they came in.
#pragma once

#include <libmemcached/memcached.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/value_pool.h"
#include "protocol.h"

namespace lmc {

// OpCode and kOpCodeCount: src/protocol.h.

inline bool IsRead(OpCode code) { return code == OpCode::Get; }
// Operations on keys (the others are whole-client ones).
inline bool IsKeyed(OpCode code) { return code <= OpCode::Touch; }
inline bool IsPipelined(OpCode code) { return code == OpCode::Set || code == OpCode::Delete; }
inline bool ForEveryThread(OpCode code) {
  return code == OpCode::Close || code == OpCode::Disconnect || code == OpCode::SetBehaviors;
}
// Whole-client operations asked of each server by one of its own threads (see Engine::Submit).
inline bool ForEveryServer(OpCode code) { return code == OpCode::Stats || code == OpCode::FlushAll; }
// Operations whose result is a list of (name, [key, value, ...]) in Operation::stats.
inline bool ReturnsStats(OpCode code) { return code == OpCode::Stats || code == OpCode::GetBehaviors; }

using StatsList = std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>;

struct Item {
  // Inputs.
  std::string key;
  std::string value;  // Set...: the value; Stats: the stats group; Get/SetBehaviors: see io_thread.cc
  uint32_t flags = 0;
  time_t exptime = 0;

  // Outputs.
  memcached_return_t rc = MEMCACHED_SUCCESS;
  bool hit = false;
  uint32_t result_flags = 0;
  uint64_t result_cas = 0;
  std::string result;  // the value read, unless `large` holds it
  PooledBytes large;   // the value read, when at least kPooledValueMin bytes long

  // A new item with this one's inputs (the parts of a whole-client operation each get one). An
  // item is moved, never copied: its outputs may own a pooled block.
  Item CopyInputs() const {
    Item copy;
    copy.key = key;
    copy.value = value;
    copy.flags = flags;
    copy.exptime = exptime;
    return copy;
  }

  // A recycled item (see Client::Retire) keeps its strings' capacity; this clears the rest.
  void ResetOutputs() {
    rc = MEMCACHED_SUCCESS;
    hit = false;
    result_flags = 0;
    result_cas = 0;
    result.clear();
    large.Reset();
  }
};

struct Operation {
  uint32_t id = 0;  // the JS side's request id
  OpCode code = OpCode::Get;
  bool want_cas = false;
  bool multi = false;  // delivered item by item (getMulti, setMulti, deleteMulti)
  std::vector<Item> items;
  uint64_t number = 0;  // Cas: the token; Incr/Decr: the delta

  // Outputs beyond the items'.
  memcached_return_t rc = MEMCACHED_SUCCESS;  // single: the item's; multi: the first failure's
  uint64_t result_number = 0;                 // Incr/Decr: the new value
  StatsList stats;
  std::string error;   // libmemcached's explanation of rc, when it is a failure
  std::string server;  // "host:port" of the server involved, when known

  // Split operations: a whole-client operation runs on every I/O thread, a multi-key one is
  // split into one part per thread. The parent completes when its last part does.
  std::atomic<int> remaining{1};
  Operation* parent = nullptr;
  std::vector<uint32_t> origin;  // a part's items' indexes in its parent
  // What a part stands for: some of its whole's keys (origin says which), one server of a
  // whole-client operation asked of each server (ForEveryServer; server_index says which), or
  // one I/O thread's share of a whole-client operation every thread runs (ForEveryThread).
  enum class Part : uint8_t { None, Keys, Server, Thread };
  Part part = Part::None;
  uint32_t server_index = 0;

  size_t retained_bytes = 0;  // what its recycled items hold while it waits in the free list
};

// Codes that are answers rather than failures: the TypeScript layer maps them to
// true/false/miss. Exported as constants.softReturnCodes; lib/constants.ts's isSoft reads it.
bool IsSoftResult(memcached_return_t rc);

// Deletes an operation that will never be delivered (its client is gone): a part, and its whole
// once its last part is gone; a whole, once every thread it ran on is done with it.
void DiscardOperation(Operation* op);

}  // namespace lmc
