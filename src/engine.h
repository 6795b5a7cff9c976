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

class Engine {
 public:
  // `master` is configured and has never done I/O; each thread gets its own clone of it.
  Engine(memcached_st* master, uint32_t threads);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // `wake` is called from I/O threads when completions are waiting and no wake is pending.
  void Start(std::function<void()> wake);

  // Routes each operation by key so that operations on one key run in order on one thread;
  // Close and Disconnect go to every thread. JS thread only.
  void Submit(std::vector<Operation*>& ops);

  // Called by I/O threads: hands finished operations (or parts of them) to the JS thread.
  void Complete(std::vector<Operation*>& done);

  // JS thread: takes everything completed so far.
  std::vector<Operation*> TakeCompleted();

  // Stops and joins the threads, completing nothing further. Idempotent.
  void Shutdown();

  // Only for pure computations on the JS thread (hashing): the master never does I/O.
  memcached_st* master() { return master_; }

 private:
  void Split(Operation* op, size_t threads);

  memcached_st* master_;
  std::vector<std::unique_ptr<IoThread>> threads_;
  std::function<void()> wake_;
  std::vector<std::vector<Operation*>> routed_;  // Submit's scratch space

  std::mutex done_mutex_;
  std::vector<Operation*> done_;
  bool wake_pending_ = false;
  bool shut_down_ = false;
};

}  // namespace lmc
