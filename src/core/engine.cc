// The Engine: routes operations to per-server I/O threads and gathers their completions.
#include "core/engine.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "core/libmemcached_private.h"

namespace lmc {

// memcached_clone re-derives the continuum's "weighted" mark (ketama.weighted_) instead of
// copying it: the clone is marked when any server weighs more than 1, whatever the
// distribution. The source's mark comes from its history instead (the distribution in force as
// each server was added, and the distributions set since), so a clone could build another
// continuum and send keys to other servers than the source's hash() names: an unweighted list
// under ketama_weighted, or a weighted list switched to ketama, consistent or spy after its
// servers were added (setBehaviors). So the mark is copied and the continuum rebuilt with it.
//
// Copied once, at the clone: after that, setting a behavior changes the mark in the same way on
// any two handles whose mark and distribution agree (it depends on nothing else), so the I/O
// threads, given the master's setBehaviors words in the same order, keep agreeing with it.
memcached_st* CloneHandle(const memcached_st* source) {
  memcached_st* clone = memcached_clone(nullptr, source);
  if (clone == nullptr || KetamaWeighted(clone) == KetamaWeighted(source)) return clone;
  SetKetamaWeighted(clone, KetamaWeighted(source));
  // Rebuilds the continuum. Setting _sort_hosts to its own value re-runs the distribution and
  // changes nothing else: run_distribution itself is internal (the shared library does not
  // export it), and memcached_behavior_set_distribution sets or clears the mark itself.
  uint64_t sort_hosts = memcached_behavior_get(clone, MEMCACHED_BEHAVIOR_SORT_HOSTS);
  if (memcached_failed(memcached_behavior_set(clone, MEMCACHED_BEHAVIOR_SORT_HOSTS, sort_hosts))) {
    memcached_free(clone);
    return nullptr;
  }
  return clone;
}

Engine::Engine(memcached_st* master, uint32_t connections, std::function<bool()> wake, int64_t text_flags)
    : master_(master), servers_(memcached_server_count(master)), connections_(connections) {
  try {
    completions_ = std::make_shared<Completions>(std::move(wake));
    if (servers_ == 0) servers_ = 1;  // (a client always has servers; one thread reports NO_SERVERS)
    groups_ = std::min(servers_, kMaxServerGroups);
    // Every thread's handle lists every server: a thread talks to its own server, and to the
    // others only when failover has moved its keys there. It must place each key where the
    // master's hash() says, which is what routed the key to it: hence CloneHandle.
    for (uint32_t i = 0; i < groups_ * connections_; i++) {
      memcached_st* clone = CloneHandle(master_);
      if (clone == nullptr) throw std::bad_alloc();
      threads_.push_back(std::make_shared<IoThread>(completions_, clone, text_flags));
    }
    routed_.resize(threads_.size());
  } catch (...) {
    threads_.clear();  // (none started: their destructors free their handles)
    memcached_free(master_);
    throw;
  }
}

Engine::~Engine() {
  Shutdown();
  memcached_free(master_);
}

void Engine::Start() {
  for (auto& thread : threads_) IoThread::Start(thread);
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

// The server comes from the master's distribution, which is the configured one: a thread's own
// handle may have ejected its server since (failover) and then sends that server's keys
// elsewhere itself, but the keys stay with the same thread, so their order is kept.
size_t Engine::ThreadOf(const std::string& key) {
  uint32_t server = servers_ == 1 ? 0 : memcached_generate_hash(master_, key.data(), key.size());
  if (server >= servers_) server = 0;
  uint32_t connection = connections_ == 1 ? 0 : RouteHash(key) % connections_;
  return static_cast<size_t>(server % groups_) * connections_ + connection;
}

// Each server has threads of its own (beyond kMaxServerGroups servers, a group of servers
// shares them), so that a slow or hung server holds up only the operations on its own keys: the
// others' threads never wait for it. Operations on one key always go to the same thread, so they
// run in submission order. A whole-client operation lands after everything submitted before it,
// on every thread (or on the first thread of each server's group).
void Engine::Submit(std::vector<Operation*>& ops) {
  size_t n = threads_.size();
  if (n == 1) {
    threads_[0]->Enqueue(ops);
    return;
  }
  for (Operation* op : ops) {
    if (ForEveryThread(op->code)) {
      SplitByThread(op);
    } else if (ForEveryServer(op->code)) {
      SplitByServer(op);
    } else if (op->items.empty() || op->code == OpCode::GetBehaviors) {
      routed_[0].push_back(op);
    } else if (op->items.size() == 1) {
      routed_[ThreadOf(op->items[0].key)].push_back(op);
    } else {
      Split(op);
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (!routed_[i].empty()) threads_[i]->Enqueue(routed_[i]);
    routed_[i].clear();
  }
}

Operation* Engine::NewPart(Operation* op, Operation::Part kind) {
  Operation* part = new Operation();
  part->id = op->id;
  part->code = op->code;
  part->want_cas = op->want_cas;
  part->multi = op->multi;
  part->number = op->number;
  part->parent = op;
  part->part = kind;
  return part;
}

void Engine::Split(Operation* op) {
  parts_.assign(threads_.size(), nullptr);
  int count = 0;
  for (uint32_t i = 0; i < op->items.size(); i++) {
    size_t index = ThreadOf(op->items[i].key);
    Operation*& part = parts_[index];
    if (part == nullptr) {
      part = NewPart(op, Operation::Part::Keys);
      part->multi = true;
      count++;
    }
    part->items.push_back(std::move(op->items[i]));
    part->origin.push_back(i);
  }
  op->remaining.store(count);
  for (size_t i = 0; i < parts_.size(); i++) {
    if (parts_[i] != nullptr) routed_[i].push_back(parts_[i]);
  }
}

namespace {

void CopyInputs(const Operation& op, Operation* part) {
  part->items.clear();
  part->items.reserve(op.items.size());
  for (const Item& item : op.items) part->items.push_back(item.CopyInputs());
}

}  // namespace

void Engine::SplitByServer(Operation* op) {
#ifdef LIBMEMCACHED_SYSTEM
  // The shared library has no per-server call: one thread asks every server.
  routed_[0].push_back(op);
#else
  op->remaining.store(static_cast<int>(servers_));
  if (op->code == OpCode::Stats) op->stats.resize(servers_);
  for (uint32_t s = 0; s < servers_; s++) {
    Operation* part = NewPart(op, Operation::Part::Server);
    CopyInputs(*op, part);  // the stats group or the flush time
    part->server_index = s;
    routed_[static_cast<size_t>(s % groups_) * connections_].push_back(part);
  }
#endif
}

void Engine::SplitByThread(Operation* op) {
  op->remaining.store(static_cast<int>(threads_.size()));
  for (auto& run : routed_) {
    Operation* part = NewPart(op, Operation::Part::Thread);
    CopyInputs(*op, part);  // setBehaviors' words
    run.push_back(part);
  }
}

// Threads idle (the usual case: close() has stopped them already, or they wait for work) exit
// at once. One blocked in libmemcached on a dead or hung server would hold the JS thread for up
// to the poll or connect timeout (a worker's termination, process exit, a garbage collection):
// after kShutdownWaitMs it is left to finish in the background instead (see Shutdown in
// engine.h).
void Engine::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  completions_->Close();
  for (auto& thread : threads_) thread->RequestStop();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kShutdownWaitMs);
  for (auto& thread : threads_) thread->JoinOrDetach(deadline);
  threads_.clear();
}

}  // namespace lmc
