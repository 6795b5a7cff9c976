// A native thread that owns one memcached_st and runs blocking libmemcached calls on it.
//
// libmemcached blocks in every call and exposes no socket to poll, so its calls cannot run on
// the JS thread, and parking them on libuv's shared 4-thread pool would let one dead server
// starve fs, dns and zlib. Each I/O thread drains everything queued at once: a run of reads
// becomes one memcached_mget, and the whole batch goes back to JavaScript in one hop.
#pragma once

#include <libmemcached/memcached.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/completions.h"
#include "core/operation.h"

namespace lmc {

// "host:port", as errors and stats name a server.
std::string ServerName(const memcached_instance_st* server);

class IoThread {
 public:
  // Takes ownership of `handle`, a clone no other thread touches. `text_flags`: the flags of
  // plain text, whose large values are checked for ASCII here (see PooledBytes::CheckAscii), or
  // -1.
  IoThread(std::shared_ptr<Completions> completions, memcached_st* handle, int64_t text_flags);
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Starts `self`'s thread, which keeps `self` alive until it exits (so that it may outlive its
  // Engine: see JoinOrDetach). Throws std::system_error when no thread can be made.
  static void Start(const std::shared_ptr<IoThread>& self);
  // Appends `ops` (in order) and wakes the thread if it sleeps.
  void Enqueue(const std::vector<Operation*>& ops);
  // Asks the thread to stop after the call it is in, if any; what is queued is not run.
  void RequestStop();
  // Waits until `deadline` for the thread to exit and joins it; a thread still in a blocking
  // libmemcached call then is detached: it frees its handle itself when the call returns.
  void JoinOrDetach(std::chrono::steady_clock::time_point deadline);

 private:
  void Run();
  void Execute(std::vector<Operation*>& batch);
  void Complete(std::vector<Operation*>& done);
  template <typename Fn>
  void Contain(Operation** begin, Operation** end, Fn&& run);
  void DropConnections();
  void RunReads(Operation** begin, Operation** end);
  uint32_t* FindReadSlot(std::string_view key);
  void Fetch(bool may_retry);
  memcached_return_t ServerFailure(const memcached_instance_st* server);
  uint64_t RingGeneration();
  void RunWrites(Operation** begin, Operation** end);
  void DrainChunk();
#ifdef LIBMEMCACHED_SYSTEM
  void DropUnreadReplies();
  uint64_t ring_generation_ = 0;
#endif
  void RunOne(Operation* op);
  memcached_return_t RunItem(Operation* op, Item& item);
  memcached_return_t RunItemOnce(Operation* op, Item& item);
  void CollectStats(Operation* op);
  void AddStats(Operation* op, uint32_t index, memcached_stat_st* stat);
  void ReadBehaviors(Operation* op);
  void ApplyBehaviors(Operation* op);
  bool SetOwnBehaviors();
  // Records `rc` for `item` (if any) and, when it is the operation's first failure, for `op`
  // together with libmemcached's explanation and the server involved.
  void Fail(Operation* op, Item* item, memcached_return_t rc, const char* detail = nullptr);
  void RefuseServer(memcached_return_t rc, const char* why);
  std::string ServerOf(const std::string& key);

  struct Pending {
    Item* item;
    Operation* op;
    memcached_instance_st* server;
  };

  // Frees the handle, on whichever thread ends up doing it (once).
  void FreeHandle();

  std::shared_ptr<Completions> completions_;
  memcached_st* handle_;
  memcached_result_st result_;
  std::thread thread_;
  bool can_pipeline_ = false;  // TCP or UNIX socket, replies on
  bool pipelining_ = false;
  bool cas_ = false;  // the handle asks for CAS tokens (SetOwnBehaviors)
  int64_t text_flags_;
  // Scratch space, kept to avoid reallocating per batch.
  static constexpr uint32_t kNoItem = UINT32_MAX;
  struct ReadItem {
    Item* item;
    Operation* op;
    uint32_t next;  // the next item asking for the same key, or kNoItem
  };
  struct ReadHead {
    uint32_t first;  // the first and last items asking for one key
    uint32_t last;
    const void* from = nullptr;  // the server its value came from (bundled build)
  };
  std::vector<ReadItem> read_items_;  // a run of gets' items, in order
  std::vector<ReadHead> read_heads_;  // one per distinct key, in order
  std::vector<uint32_t> read_table_;  // key -> index in read_heads_ (open addressing)
  std::vector<uint32_t> read_asked_;  // the read_heads_ entries the running mget asks for
  std::vector<uint32_t> read_retry_;  // those to ask again after the distribution changed
  const char* refused_ = nullptr;     // why the running fetch refused a server's replies
  const void* refused_server_ = nullptr;
  std::vector<const char*> read_keys_;
  std::vector<size_t> read_lengths_;
  std::vector<Pending> chunk_;  // written, replies not yet read

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Operation*> queue_;
  std::vector<Operation*> early_;  // a chunk of reads completed before the batch ends
  bool idle_ = false;
  bool stopping_ = false;
  bool exited_ = false;  // Run has returned (under mutex_; wake_ is signalled)
  bool closed_ = false;
};

}  // namespace lmc
