// The native half of a Client, free of napi: the master handle, the I/O threads and the queue
// of completed operations waiting for the JS thread.
#pragma once

#include <libmemcached/memcached.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/completions.h"
#include "core/io_thread.h"
#include "core/operation.h"

namespace lmc {

// memcached_clone(source), placing every key where `source` does (memcached_clone alone does
// not always: see engine.cc); nullptr when out of memory.
memcached_st* CloneHandle(const memcached_st* source);

class Engine {
 public:
  // Takes `master`, configured and never used for I/O (freed here even when this throws); each
  // thread gets its own clone of it. Every server gets `connections` threads of its own, up to
  // kMaxServerGroups servers (see Submit). `wake` asks the JS thread to take completions; it is
  // called from I/O threads and returns false when it could not. `text_flags`: see IoThread.
  Engine(memcached_st* master, uint32_t connections, std::function<bool()> wake, int64_t text_flags);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the threads; throws std::system_error when one cannot be made (those made are then
  // stopped by Shutdown).
  void Start();

  // Routes each operation to the threads of the server its key maps to, so that a slow server
  // holds up only its own keys and operations on one key run in order on one thread. JS thread
  // only.
  void Submit(std::vector<Operation*>& ops);

  // JS thread: takes everything completed so far.
  std::vector<Operation*> TakeCompleted() { return completions_->Take(); }

  // Stops the threads, completing nothing further and never waking the JS thread again, and
  // returns within kShutdownWait. Idempotent. A thread still blocked in libmemcached then (a
  // dead or hung server, up to the poll or connect timeout) is left to finish that call in the
  // background: it frees its own handle and exits, and the process or worker can exit without
  // waiting for it.
  void Shutdown();

  // Only for pure computations on the JS thread (hashing): the master never does I/O.
  memcached_st* master() { return master_; }

  // How many I/O threads serve the client (its servers' groups times `connections`).
  size_t threads() const { return groups_ * static_cast<size_t>(connections_); }

 private:
  // Servers share threads beyond this many: every thread's handle lists every server (so that
  // failover can move keys), and each listed server costs a handle some 8 KiB of memory.
  static constexpr uint32_t kMaxServerGroups = 32;
  static constexpr int kShutdownWaitMs = 250;

  // The thread for `key`: one of its server's, chosen by the key among that server's threads.
  size_t ThreadOf(const std::string& key);
  // A multi-key operation, in one part per thread that owns some of its keys.
  void Split(Operation* op);
  // A whole-client operation, in one part per server (ForEveryServer).
  void SplitByServer(Operation* op);
  // A whole-client operation, in one part per thread (ForEveryThread): each thread reports into
  // its own part, and the parts are gathered under the completions' lock.
  void SplitByThread(Operation* op);
  Operation* NewPart(Operation* op, Operation::Part kind);

  memcached_st* master_;
  uint32_t servers_;
  uint32_t groups_;  // server s belongs to group s % groups_
  uint32_t connections_;
  std::shared_ptr<Completions> completions_;
  std::vector<std::shared_ptr<IoThread>> threads_;  // group g's threads at [g * connections_, ...)
  std::vector<std::vector<Operation*>> routed_;  // Submit's scratch space, one run per thread
  std::vector<Operation*> parts_;                // Split's scratch space
  bool shut_down_ = false;
};

}  // namespace lmc
