// The queue of finished operations between the I/O threads and the JS thread, and the wake-up
// that tells the JS thread to take them.
//
// Shared (std::shared_ptr) by the Engine and each of its I/O threads: when a client is torn down
// while a thread is still blocked in a libmemcached call on a dead or hung server, the thread is
// left to finish that call in the background (see Engine::Shutdown), and it must still have
// somewhere to hand its operations to. Once closed, the queue deletes what it is given and never
// wakes the JS thread again, whose completion channel may be gone by then.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "core/operation.h"

namespace lmc {

class Completions {
 public:
  // `wake` asks for the JS thread to call Take soon; it returns false when it could not.
  explicit Completions(std::function<bool()> wake) : wake_(std::move(wake)) {}
  ~Completions();
  Completions(const Completions&) = delete;
  Completions& operator=(const Completions&) = delete;

  // I/O threads: queues `done` (parts of split operations go back into their whole, which is
  // queued when its last part is) and wakes the JS thread unless a wake is pending. Allocates
  // only before changing anything, so that a caller may retry it after std::bad_alloc.
  void Add(std::vector<Operation*>& done);

  // JS thread: takes everything queued so far.
  std::vector<Operation*> Take();

  // After this, Add deletes what it is given and nothing wakes the JS thread. What is queued and
  // not yet taken is deleted. JS thread.
  void Close();

 private:
  std::mutex mutex_;
  std::vector<Operation*> done_;
  std::function<bool()> wake_;
  bool wake_pending_ = false;
  bool closed_ = false;
};

}  // namespace lmc
