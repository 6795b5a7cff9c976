// One request from JavaScript, carried to an I/O thread and back.
//
// Everything an I/O thread needs is copied into the Operation on the JS thread, and everything
// JavaScript needs is copied out of libmemcached on the I/O thread: the two threads never share
// a napi value or a libmemcached buffer.
#pragma once

#include <libmemcached/memcached.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace lmc {

enum class OpCode : uint8_t {
  // Reads: consecutive reads in a thread's queue are coalesced into one memcached_mget.
  Get,
  // Writes, one round trip each.
  Set,
  Add,
  Replace,
  Append,
  Prepend,
  Cas,
  Delete,
  Incr,
  Decr,
  Touch,
  // Whole-client operations.
  FlushAll,
  Stats,
  Disconnect,
  Close,
};

inline bool IsRead(OpCode code) { return code == OpCode::Get; }

struct Hit {
  uint32_t index;  // position of the key in Operation::keys
  uint32_t flags;
  uint64_t cas;
  std::string value;
};

struct Operation {
  uint32_t id = 0;  // the JS side's request id
  OpCode code = OpCode::Get;

  // Inputs.
  std::vector<std::string> keys;  // Get: one or more keys; others: keys[0]
  std::string value;
  uint32_t flags = 0;
  time_t exptime = 0;
  uint64_t cas = 0;
  uint64_t delta = 0;
  std::string arg;  // Stats: the stats group

  // Outputs.
  memcached_return_t rc = MEMCACHED_SUCCESS;
  std::vector<Hit> hits;  // Get
  uint64_t number = 0;    // Incr/Decr: the new value
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> stats;
  std::string error;   // libmemcached's explanation when rc is a failure
  std::string server;  // "host:port" of the server involved, when known

  // Whole-client operations go to every I/O thread; the last one to finish completes it.
  std::atomic<int> remaining{1};
};

// Codes that are answers rather than failures: callers map them to true/false/miss.
bool IsSoftResult(memcached_return_t rc);

}  // namespace lmc
