// The pool of large-value blocks (value_pool.h).
#include "core/value_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

namespace lmc {

namespace {

// Capacities come in eight steps per power of two (at most an eighth wasted), so that values of
// one size, or of nearby sizes, share blocks. A value of a power of two is read with two more
// bytes (libmemcached's "\r\n"), so it lands just above its power: with four steps, as before,
// a 256 KiB value took 320 KiB, and V8, told of each text value's whole block, ran a full
// collection every 204 such reads instead of every 227 (docs/performance.md#large-values).
size_t RoundUp(size_t size) {
  size_t step = 4096;
  while (step * 16 <= size) step *= 2;
  return (size + step - 1) / step * step;
}

// The bytes libmemcached reads a value of `size` into: the value and its "\r\n". Blocks for a
// value, copied or adopted, are of this length's class, so that both kinds share blocks.
size_t ReadLength(size_t size) { return size + 2; }

uint64_t NowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

}  // namespace

ValuePool& ValuePool::Shared() {
  static ValuePool* pool = new ValuePool();
  return *pool;
}

char* ValuePool::Take(size_t size, size_t* capacity) {
  size_t wanted = RoundUp(size);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    DecayLocked(NowMs());
    // The most recently given block of the size class that fits (blocks adopted from
    // libmemcached have capacities of its choosing, and some of the class may be too small).
    auto blocks = free_.find(wanted);
    for (size_t i = blocks != free_.end() ? blocks->second.size() : 0; i-- > 0;) {
      std::deque<Free>& of_class = blocks->second;
      if (of_class[i].capacity < size) continue;
      Free found = of_class[i];
      of_class.erase(of_class.begin() + static_cast<std::ptrdiff_t>(i));
      if (of_class.empty()) free_.erase(blocks);
      free_bytes_ -= found.capacity;
      if (free_bytes_ < low_water_) low_water_ = free_bytes_;
      recycled_++;
      *capacity = found.capacity;
      return found.block;
    }
  }
  char* block = static_cast<char*>(std::malloc(wanted));
  *capacity = block != nullptr ? wanted : 0;
  return block;
}

void ValuePool::Give(char* block, size_t capacity) {
  if (block == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    DecayLocked(NowMs());
    const bool fits = free_bytes_ + capacity <= kRetainedMax;
    if (fits || capacity <= kEvictingMax) {
      // A full pool makes room by freeing the blocks given back longest ago: the block just
      // given back is of a size in use now. (Keeping the old ones instead, once a run of 4 MiB
      // values had filled the pool, sent every 256 KiB value after them through malloc and
      // free, a fresh block each: docs/performance.md#large-values.) A block too large to make
      // room for does not empty the pool of the sizes in use: one rare huge value would.
      if (!fits) ReleaseLocked(free_bytes_ + capacity - kRetainedMax);
      // Give runs in destructors and finalizers: keeping a block must not throw, so a block that
      // cannot be filed (the map or deque could not grow) is freed instead.
      const size_t size_class = RoundUp(capacity);
      try {
        free_[size_class].push_back({block, capacity, ++gives_});
        free_bytes_ += capacity;
        return;
      } catch (const std::bad_alloc&) {
        // No class is left empty (Take and the release loop expect blocks in each).
        auto blocks = free_.find(size_class);
        if (blocks != free_.end() && blocks->second.empty()) free_.erase(blocks);
      }
    }
  }
  std::free(block);
}

void ValuePool::AddUser() {
  std::lock_guard<std::mutex> lock(mutex_);
  users_++;
}

void ValuePool::RemoveUser() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (users_ > 0) users_--;
  if (users_ == 0) ReleaseLocked(free_bytes_);
}

size_t ValuePool::free_bytes() {
  std::lock_guard<std::mutex> lock(mutex_);
  return free_bytes_;
}

uint64_t ValuePool::recycled() {
  std::lock_guard<std::mutex> lock(mutex_);
  return recycled_;
}

void ValuePool::DecayLocked(uint64_t now_ms) {
  if (now_ms - last_decay_ms_ < kDecayMs) return;
  ReleaseLocked(low_water_);
  low_water_ = free_bytes_;
  last_decay_ms_ = now_ms;
}

// Frees at least `bytes` of free blocks (or all of them), the longest unused first.
void ValuePool::ReleaseLocked(size_t bytes) {
  if (bytes >= free_bytes_) {
    for (auto& [size_class, blocks] : free_) {
      for (const Free& f : blocks) std::free(f.block);
    }
    free_.clear();
    free_bytes_ = 0;
  }
  size_t released = 0;
  while (released < bytes && !free_.empty()) {
    // The oldest block is at the front of its class (eight classes per power of two: some
    // sixty for values up to 8 MiB).
    auto oldest = free_.begin();
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second.front().given < oldest->second.front().given) oldest = it;
    }
    Free f = oldest->second.front();
    oldest->second.pop_front();
    if (oldest->second.empty()) free_.erase(oldest);
    std::free(f.block);
    released += f.capacity;
    free_bytes_ -= f.capacity;
  }
  if (free_bytes_ < low_water_) low_water_ = free_bytes_;
}

PooledBytes& PooledBytes::operator=(PooledBytes&& other) noexcept {
  if (this != &other) {
    Reset();
    block_ = other.block_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    ascii_ = other.ascii_;
    other.Release();
  }
  return *this;
}

bool PooledBytes::Assign(const char* data, size_t size) {
  Reset();
  size_t capacity = 0;
  char* block = ValuePool::Shared().Take(ReadLength(size), &capacity);
  if (block == nullptr) return false;
  std::memcpy(block, data, size);
  block_ = block;
  size_ = size;
  capacity_ = capacity;
  return true;
}

bool PooledBytes::Adopt(memcached_string_st& value, size_t size) {
  // A buffer grown for a larger value earlier is not handed out for a small one (each 256 KiB
  // value would carry, and be counted as, 4 MiB after a 4 MiB read): the value is copied into a
  // block of its size instead. The large buffer then goes back to the pool, and libmemcached
  // reads on into a block of this value's size, so that the values of this size after it are
  // adopted again rather than copied (once libmemcached had kept its buffer from a 4 MiB read,
  // every smaller value after it was copied, for as long as the connection lived).
  if (value.current_size > RoundUp(ReadLength(size))) {
    if (!Assign(value.string, size)) return false;
    size_t capacity = 0;
    char* smaller = ValuePool::Shared().Take(ReadLength(size), &capacity);
    if (smaller != nullptr) {
      ValuePool::Shared().Give(value.string, value.current_size);
      value.string = smaller;
      value.end = smaller;
      value.current_size = capacity;
    }
    return true;
  }
  Reset();
  size_t capacity = 0;
  char* replacement = ValuePool::Shared().Take(value.current_size, &capacity);
  if (replacement == nullptr) return false;
  block_ = value.string;
  size_ = size;
  capacity_ = value.current_size;
  value.string = replacement;
  value.end = replacement;
  value.current_size = capacity;
  return true;
}

void PooledBytes::CheckAscii() {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(block_);
  constexpr uint64_t kHighBits = 0x8080808080808080ull;
  size_t i = 0;
  // 32 bytes at a time into four independent accumulators, tested every 4 KiB (stopping at the
  // first 4 KiB that is not ASCII). One accumulator chained every load through one register:
  // 11 us per 256 KiB on the development VM, against 4.3 us so (the compiler vectorizes this).
  while (i + 32 <= size_) {
    size_t end = std::min(size_ & ~size_t{31}, i + 4096);
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (; i < end; i += 32) {
      uint64_t words[4];
      std::memcpy(words, p + i, sizeof words);
      a |= words[0];
      b |= words[1];
      c |= words[2];
      d |= words[3];
    }
    if (((a | b | c | d) & kHighBits) != 0) {
      ascii_ = false;
      return;
    }
  }
  unsigned tail = 0;
  for (; i < size_; i++) tail |= p[i];
  ascii_ = (tail & 0x80u) == 0;
}

void PooledBytes::Reset() {
  if (block_ != nullptr) ValuePool::Shared().Give(block_, capacity_);
  Release();
}

}  // namespace lmc
