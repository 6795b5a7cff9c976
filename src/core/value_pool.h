// Storage for large values read from memcached, recycled from one read to the next.
//
// A value of kPooledValueMin bytes or more is copied from libmemcached's result into a block
// taken from the process-wide pool, and handed to JavaScript without another copy (as an
// external Buffer or string whose memory comes back here when it is collected; see
// Client::Deliver). Fresh memory costs a page fault per 4 KiB the first time it is written, and
// glibc returns a freed large block to the system at once: on the development VM a 256 KiB
// value in a new allocation spent three quarters of its client time in page faults
// (docs/performance.md). A recycled block's pages are mapped already.
//
// Thread-safe: I/O threads take blocks, the JS thread (finalizers) gives them back. The pool
// keeps at most kRetainedMax bytes of free blocks (the most recently given back, though a block
// over kEvictingMax never pushes others out), and gives back to the system, every kDecayMs,
// what sat unused for the whole of the last period (as jemalloc's dirty-page decay does, over
// the same 10 s: a shorter period freed a benchmark's blocks between its windows).
#pragma once

#include <libmemcached/memcached.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace lmc {

// Values this long or longer are pooled; shorter ones are cheap to copy (and a JS string under
// 128 KiB is made in V8's young generation, whose pages are recycled anyway).
constexpr size_t kPooledValueMin = 32 * 1024;

class ValuePool {
 public:
  // The process-wide pool. Never destroyed: a Buffer or string may outlive every client, and
  // I/O threads left to finish in the background may outlive the env.
  static ValuePool& Shared();

  // A block of at least `size` bytes (its capacity is set); nullptr when out of memory.
  char* Take(size_t size, size_t* capacity);
  // Returns a block taken from Take, with the capacity Take set.
  void Give(char* block, size_t capacity);
  // Live clients, in every thread of the process: when the last one closes, what they read may
  // never be read again, and every free block goes back to the system. (Another client's close
  // does not trim: a busy client's blocks would go with it.)
  void AddUser();
  void RemoveUser();

  // For tests and docs: bytes held in free blocks, and blocks handed out so far that were
  // recycled rather than allocated.
  size_t free_bytes();
  uint64_t recycled();

 private:
  ValuePool() = default;
  static constexpr size_t kRetainedMax = 128u << 20;
  // The largest block that a full pool frees older blocks to keep (an eighth of the pool).
  static constexpr size_t kEvictingMax = kRetainedMax / 8;
  static constexpr uint64_t kDecayMs = 10000;
  struct Free {
    char* block;
    size_t capacity;
    uint64_t given;  // when it was given back, in Give calls: the lowest has waited longest
  };
  // Frees what the last period never needed (the lowest free_bytes_ seen in it).
  void DecayLocked(uint64_t now_ms);
  void ReleaseLocked(size_t bytes);

  std::mutex mutex_;
  size_t users_ = 0;
  // Free blocks by size class (RoundUp of the capacity), each most recently given last. Take
  // looks in one class only: a block of a smaller class is too small, one of a larger too large.
  std::unordered_map<size_t, std::deque<Free>> free_;
  uint64_t gives_ = 0;
  size_t free_bytes_ = 0;
  size_t low_water_ = 0;      // the least free_bytes_ since the last decay
  uint64_t last_decay_ms_ = 0;
  uint64_t recycled_ = 0;
};

// A block of the pool holding one value, freed back to the pool unless released.
class PooledBytes {
 public:
  PooledBytes() = default;
  // One owner per block: moved, never copied.
  PooledBytes(const PooledBytes&) = delete;
  PooledBytes& operator=(const PooledBytes&) = delete;
  PooledBytes(PooledBytes&& other) noexcept { *this = std::move(other); }
  PooledBytes& operator=(PooledBytes&& other) noexcept;
  ~PooledBytes() { Reset(); }

  // Copies `size` bytes into a pooled block. False when out of memory.
  bool Assign(const char* data, size_t size);
  // Takes the `size` bytes of libmemcached's result string `value` without copying them, and
  // gives `value` a pooled block of at least its capacity in exchange. Both are plain malloc
  // memory, which libmemcached (whose handles keep the default allocators) reallocs and frees
  // as its own. A buffer much larger than the value is not taken: the value is copied, and the
  // buffer goes to the pool in exchange for a block of the value's size. False when out of
  // memory (nothing changed).
  bool Adopt(memcached_string_st& value, size_t size);
  // Records whether every byte is ASCII (which lets text become a one-byte string without
  // decoding), for ascii(); I/O threads call it for text, so that the JS thread does not scan.
  void CheckAscii();
  bool ascii() const { return ascii_; }
  void Reset();
  // Hands the block over (to a finalizer, which gives it back): data() stays valid.
  void Release() {
    block_ = nullptr;
    size_ = capacity_ = 0;
    ascii_ = false;
  }

  bool empty() const { return block_ == nullptr; }
  char* data() const { return block_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

 private:
  char* block_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool ascii_ = false;
};

}  // namespace lmc
