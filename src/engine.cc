#include "engine.h"

namespace lmc {

Engine::Engine(memcached_st* master, uint32_t threads) : master_(master) {
  for (uint32_t i = 0; i < threads; i++) {
    // Cloning only reads the master, which nothing else touches while we do it (JS thread).
    memcached_st* clone = memcached_clone(nullptr, master_);
    if (clone == nullptr) throw std::bad_alloc();
    // `gets` costs the server no more than `get`, and always asking for CAS tokens lets
    // gets() share a memcached_mget with plain gets.
    memcached_behavior_set(clone, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
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

void Engine::Submit(Operation* op) {
  size_t index = 0;
  if (threads_.size() > 1 && !op->keys.empty()) index = RouteHash(op->keys[0]) % threads_.size();
  threads_[index]->Enqueue(op);
}

void Engine::SubmitToAll(Operation* op) {
  op->remaining.store(static_cast<int>(threads_.size()));
  for (auto& thread : threads_) thread->Enqueue(op);
}

void Engine::Complete(std::vector<Operation*>& done) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(done_mutex_);
    for (Operation* op : done) {
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
