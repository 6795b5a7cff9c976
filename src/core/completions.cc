// The queue of finished operations between the I/O threads and the JS thread.
#include "core/completions.h"

namespace lmc {

Completions::~Completions() {
  for (Operation* op : done_) delete op;
}

void Completions::Add(std::vector<Operation*>& done) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) {
    for (Operation* op : done) {
      if (op != nullptr) DiscardOperation(op);
    }
    done.clear();
    return;
  }
  // The only allocation, before anything changes: a failure throws with nothing done yet, so
  // the caller can try again (IoThread::Complete).
  done_.reserve(done_.size() + done.size());
  for (Operation* op : done) {
    if (op == nullptr) continue;  // completed early (IoThread::Execute)
    if (op->parent != nullptr) {
      // A part of a split operation: its items and statistics go back where they came from.
      Operation* parent = op->parent;
      if (op->part == Operation::Part::Server) {
        if (!op->stats.empty() && op->server_index < parent->stats.size()) {
          parent->stats[op->server_index] = std::move(op->stats[0]);
        }
      } else if (op->part == Operation::Part::Keys) {
        for (size_t i = 0; i < op->items.size() && i < op->origin.size(); i++) parent->items[op->origin[i]] = std::move(op->items[i]);
      }
      if (!IsSoftResult(op->rc) && IsSoftResult(parent->rc)) {
        parent->rc = op->rc;
        parent->error = std::move(op->error);
        parent->server = std::move(op->server);
      }
      delete op;
      op = parent;
    }
    if (op->remaining.fetch_sub(1) == 1) done_.push_back(op);
  }
  done.clear();
  // Woken under the lock: Close (on the JS thread) must know that no wake is under way before
  // the completion channel behind `wake_` is released.
  if (!done_.empty() && !wake_pending_) {
    wake_pending_ = true;
    // Should the wake fail (the channel is closing), a later Add tries again rather than
    // leaving every later completion stranded behind a wake that never came.
    if (!wake_()) wake_pending_ = false;
  }
}

std::vector<Operation*> Completions::Take() {
  std::vector<Operation*> taken;
  std::lock_guard<std::mutex> lock(mutex_);
  taken.swap(done_);
  wake_pending_ = false;
  return taken;
}

void Completions::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  for (Operation* op : done_) delete op;
  done_.clear();
}

}  // namespace lmc
