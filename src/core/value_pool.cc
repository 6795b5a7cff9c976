// The pool of large-value blocks (value_pool.h).
#include "core/value_pool.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace lmc {

namespace {

// Capacities come in four steps per power of two (at most a quarter wasted), so that values of
// one size, or of nearby sizes, share blocks.
size_t RoundUp(size_t size) {
  size_t step = 4096;
  while (step * 8 <= size) step *= 2;
  return (size + step - 1) / step * step;
}

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
    // The most recently given block that fits without wasting more than a size class would
    // (blocks adopted from libmemcached have capacities of its choosing).
    for (size_t i = free_.size(); i-- > 0;) {
      if (free_[i].capacity < size || free_[i].capacity > wanted) continue;
      Free found = free_[i];
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
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
    if (free_bytes_ + capacity <= kRetainedMax) {
      free_.push_back({block, capacity});
      free_bytes_ += capacity;
      return;
    }
  }
  std::free(block);
}

void ValuePool::Trim() {
  std::lock_guard<std::mutex> lock(mutex_);
  ReleaseLocked(free_bytes_);
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
  size_t released = 0;
  size_t n = 0;
  while (n < free_.size() && released < bytes) {
    std::free(free_[n].block);
    released += free_[n].capacity;
    n++;
  }
  free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(n));
  free_bytes_ -= released;
  if (free_bytes_ < low_water_) low_water_ = free_bytes_;
}

PooledBytes& PooledBytes::operator=(PooledBytes&& other) noexcept {
  if (this != &other) {
    Reset();
    block_ = other.block_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.Release();
  }
  return *this;
}

bool PooledBytes::Assign(const char* data, size_t size) {
  Reset();
  size_t capacity = 0;
  char* block = ValuePool::Shared().Take(size, &capacity);
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
  // block of its size instead, and libmemcached keeps its buffer.
  if (value.current_size > RoundUp(size + 2)) return Assign(value.string, size);
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

bool PooledBytes::IsAscii() const {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(block_);
  uint64_t high = 0;
  size_t i = 0;
  // Eight bytes at a time, or-ed together (the compiler vectorizes it).
  for (; i + 8 <= size_; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    high |= word;
  }
  for (; i < size_; i++) high |= p[i];
  return (high & 0x8080808080808080ull) == 0;
}

void PooledBytes::Reset() {
  if (block_ != nullptr) ValuePool::Shared().Give(block_, capacity_);
  Release();
}

}  // namespace lmc
