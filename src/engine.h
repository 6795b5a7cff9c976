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

  // Routes by key so that operations on one key run in order on one thread.
  void Submit(Operation* op);
  // For whole-client operations: every thread runs `op`; the last one completes it.
  void SubmitToAll(Operation* op);

  // Called by I/O threads.
  void Complete(std::vector<Operation*>& done);

  // JS thread: takes everything completed so far.
  std::vector<Operation*> TakeCompleted();

  // Stops and joins the threads, completing nothing further. Idempotent.
  void Shutdown();

  const memcached_st* master() const { return master_; }
  size_t threads() const { return threads_.size(); }

 private:
  memcached_st* master_;
  std::vector<std::unique_ptr<IoThread>> threads_;
  std::function<void()> wake_;

  std::mutex done_mutex_;
  std::vector<Operation*> done_;
  bool wake_pending_ = false;
  bool shut_down_ = false;
};

}  // namespace lmc
