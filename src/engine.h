// The native half of a Client, free of napi: the master handle, the I/O threads and the queue
// of completed operations waiting for the JS thread.
#pragma once

#include <libmemcached/memcached.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io_thread.h"
#include "operation.h"

namespace lmc {

// memcached_clone(source), placing every key where `source` does (memcached_clone alone does
// not always: see engine.cc); nullptr when out of memory.
memcached_st* CloneHandle(const memcached_st* source);

class Engine {
 public:
  // `master` is configured and has never done I/O; each thread gets its own clone of it.
  // Every server gets `connections` threads of its own, up to kMaxServerGroups servers (see
  // Submit).
  Engine(memcached_st* master, uint32_t connections);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // `wake` is called from I/O threads when completions are waiting and no wake is pending.
  void Start(std::function<void()> wake);

  // Routes each operation to the threads of the server its key maps to, so that a slow server
  // holds up only its own keys and operations on one key run in order on one thread. JS thread
  // only.
  void Submit(std::vector<Operation*>& ops);

  // Called by I/O threads: hands finished operations (or parts of them) to the JS thread.
  void Complete(std::vector<Operation*>& done);

  // JS thread: takes everything completed so far.
  std::vector<Operation*> TakeCompleted();

  // Stops and joins the threads, completing nothing further. Idempotent.
  void Shutdown();

  // Only for pure computations on the JS thread (hashing): the master never does I/O.
  memcached_st* master() { return master_; }

  // How many I/O threads serve the client (its servers' groups times `connections`).
  size_t threads() const { return groups_ * static_cast<size_t>(connections_); }

 private:
  // The thread for `key`: one of its server's, chosen by the key among that server's threads.
  size_t ThreadOf(const std::string& key);
  // A multi-key operation, in one part per thread that owns some of its keys.
  void Split(Operation* op);
  // A whole-client operation, in one part per server (ForEveryServer).
  void SplitByServer(Operation* op);
  Operation* NewPart(Operation* op);

  // Servers share threads beyond this many: every thread's handle lists every server (so that
  // failover can move keys), and each listed server costs a handle some 8 KiB of memory.
  static constexpr uint32_t kMaxServerGroups = 32;

  memcached_st* master_;
  uint32_t servers_;
  uint32_t groups_;  // server s belongs to group s % groups_
  uint32_t connections_;
  std::vector<std::unique_ptr<IoThread>> threads_;  // group g's threads at [g * connections_, ...)
  std::function<void()> wake_;
  std::vector<std::vector<Operation*>> routed_;  // Submit's scratch space, one run per thread
  std::vector<Operation*> parts_;                // Split's scratch space

  std::mutex done_mutex_;
  std::vector<Operation*> done_;
  bool wake_pending_ = false;
  bool shut_down_ = false;
};

}  // namespace lmc
