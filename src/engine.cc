#include "engine.h"

namespace lmc {

Engine::Engine(memcached_st* master, uint32_t threads) : master_(master) {
  for (uint32_t i = 0; i < threads; i++) {
    // Cloning only reads the master, which nothing else touches while we do it (JS thread).
    memcached_st* clone = memcached_clone(nullptr, master_);
    if (clone == nullptr) throw std::bad_alloc();
    // memcached_clone copies the distribution but not the "weighted" flag beside it, so a
    // clone of a ketama_weighted master would build an unweighted continuum and send keys to
    // other servers than the master's hash() (and pylibmc) say. Setting the distribution again
    // restores the flag; the hash functions were cloned already.
    if (memcached_behavior_get(master_, MEMCACHED_BEHAVIOR_DISTRIBUTION) == MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED) {
      memcached_behavior_set_distribution(clone, MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED);
    }
    threads_.push_back(std::make_unique<IoThread>(this, clone));
  }
}

Engine::~Engine() {
  Shutdown();
  for (Operation* op : done_) delete op;
  memcached_free(master_);
}

void Engine::Start(std::function<void()> wake) {
  wake_ = std::move(wake);
  for (auto& thread : threads_) thread->Start();
}

// FNV-1a: cheap, and independent of the server distribution, which may change at run time.
static uint32_t RouteHash(const std::string& key) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : key) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

void Engine::Submit(std::vector<Operation*>& ops) {
  size_t n = threads_.size();
  if (n == 1) {
    threads_[0]->Enqueue(ops);
    return;
  }
  // Per-thread runs, in submission order: a key always goes to the same thread, so operations
  // on one key stay in order; a whole-client operation lands after everything submitted before
  // it, on every thread; a multi-key operation is split into one part per thread.
  routed_.resize(n);
  for (Operation* op : ops) {
    if (ForEveryThread(op->code)) {
      op->remaining.store(static_cast<int>(n));
      for (auto& run : routed_) run.push_back(op);
    } else if (op->items.size() <= 1) {
      size_t index = op->items.empty() ? 0 : RouteHash(op->items[0].key) % n;
      routed_[index].push_back(op);
    } else {
      Split(op, n);
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (!routed_[i].empty()) threads_[i]->Enqueue(routed_[i]);
    routed_[i].clear();
  }
}

void Engine::Split(Operation* op, size_t n) {
  std::vector<Operation*> parts(n, nullptr);
  int count = 0;
  for (uint32_t i = 0; i < op->items.size(); i++) {
    size_t index = RouteHash(op->items[i].key) % n;
    Operation*& part = parts[index];
    if (part == nullptr) {
      part = new Operation();
      part->id = op->id;
      part->code = op->code;
      part->want_cas = op->want_cas;
      part->multi = true;
      part->number = op->number;
      part->parent = op;
      count++;
    }
    part->items.push_back(std::move(op->items[i]));
    part->origin.push_back(i);
  }
  op->remaining.store(count);
  for (size_t i = 0; i < n; i++) {
    if (parts[i] != nullptr) routed_[i].push_back(parts[i]);
  }
}

void Engine::Complete(std::vector<Operation*>& done) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(done_mutex_);
    for (Operation* op : done) {
      if (op == nullptr) continue;  // completed early (IoThread::Execute)
      if (op->parent != nullptr) {
        // A part of a split operation: its items go back where they came from.
        Operation* parent = op->parent;
        for (size_t i = 0; i < op->items.size(); i++) parent->items[op->origin[i]] = std::move(op->items[i]);
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
    if (!done_.empty() && !wake_pending_) wake = wake_pending_ = true;
  }
  done.clear();
  if (wake) wake_();
}

std::vector<Operation*> Engine::TakeCompleted() {
  std::vector<Operation*> taken;
  std::lock_guard<std::mutex> lock(done_mutex_);
  taken.swap(done_);
  wake_pending_ = false;
  return taken;
}

void Engine::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& thread : threads_) thread->Stop();
  threads_.clear();
}

}  // namespace lmc
