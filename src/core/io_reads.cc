// An I/O thread's reads: every get of a batch (single or multi-key) in one memcached_mget, each
// value handed to every item asking for its key, and a failed server's keys failed, never missed.
#include <string_view>

#include "core/io_thread.h"
#include "core/libmemcached_private.h"

namespace lmc {

// Every key of a run of gets goes into one memcached_mget: one `gets k1 k2 ...` line per
// server, all servers in parallel. A key asked for twice is sent once and fanned out to every
// item waiting for it. The keys are indexed in an open-addressing table whose storage is kept
// from batch to batch, so this allocates nothing per key (and costs far less than sorting them).
void IoThread::RunReads(Operation** begin, Operation** end) {
  std::vector<ReadItem>& items = read_items_;
  items.clear();
  for (Operation** it = begin; it != end; ++it) {
    if ((*it)->want_cas && !cas_) {
      // (libmemcached refused to ask for CAS tokens: a gets() would hand out a token of 0.)
      for (Item& item : (*it)->items) Fail(*it, &item, MEMCACHED_NOT_SUPPORTED, "CAS tokens are not available on this connection");
      continue;
    }
    for (Item& item : (*it)->items) items.push_back({&item, *it, kNoItem});
  }
  size_t slots = 16;
  while (slots < 2 * items.size()) slots *= 2;
  read_table_.assign(slots, kNoItem);
  read_heads_.clear();
  read_keys_.clear();
  read_lengths_.clear();
  for (uint32_t i = 0; i < items.size(); i++) {
    const std::string& key = items[i].item->key;
    uint32_t* slot = FindReadSlot(key);
    if (*slot == kNoItem) {
      *slot = static_cast<uint32_t>(read_heads_.size());
      read_heads_.push_back({i, i});
      read_keys_.push_back(key.data());
      read_lengths_.push_back(key.size());
    } else {
      ReadHead& head = read_heads_[*slot];
      items[head.last].next = i;
      head.last = i;
    }
  }
  if (read_heads_.empty()) return;
  read_asked_.resize(read_heads_.size());
  for (uint32_t k = 0; k < read_heads_.size(); k++) read_asked_[k] = k;
  Fetch(true);
}

// The slot of read_table_ that holds `key`'s index in read_heads_, or the empty one where it
// belongs (the table is at least twice as large as the number of keys: there always is one).
uint32_t* IoThread::FindReadSlot(std::string_view key) {
  size_t mask = read_table_.size() - 1;
  for (size_t s = std::hash<std::string_view>()(key) & mask;; s = (s + 1) & mask) {
    uint32_t& slot = read_table_[s];
    if (slot == kNoItem || read_items_[read_heads_[slot].first].item->key == key) return &slot;
  }
}

// What `server` failed with in the handle's current query, or MEMCACHED_SUCCESS. The shared
// library cannot tell one query from another: there, any error the server ever had counts.
memcached_return_t IoThread::ServerFailure(const memcached_instance_st* server) {
#ifndef LIBMEMCACHED_SYSTEM
  return memcached_server_query_error(server);
#else
  return memcached_server_error_return(server);
#endif
}

// How many times the handle's server distribution has been rebuilt (an ejected server's keys
// moving to the others, or coming back). The shared library does not count: there, keys may
// always have moved.
uint64_t IoThread::RingGeneration() {
#ifndef LIBMEMCACHED_SYSTEM
  return handle_->distribution_generation;
#else
  return ++ring_generation_;
#endif
}

// Runs the mget of read_keys_ (the keys of read_heads_ listed in read_asked_) and hands each
// result to every item asking for its key. A key that got no value either missed or belongs to
// a server that failed during this fetch (refused the connection, timed out, sent an error or a
// malformed reply): its items then fail with that server's error, never read as a miss, and
// never because of another server. When a failure has made the distribution change (failover
// ejected a server), the keys without a value whose server did not fail may belong elsewhere
// now: they are asked again, once (`may_retry`).
void IoThread::Fetch(bool may_retry) {
  uint64_t generation = RingGeneration();
  refused_ = nullptr;
  refused_server_ = nullptr;
  memcached_return_t rc = memcached_mget(handle_, read_keys_.data(), read_lengths_.data(), read_keys_.size());
  if (rc == MEMCACHED_SERVER_MARKED_DEAD) {
    // As in RunItem: this call ejected the only server asked; the keys map elsewhere now.
    rc = memcached_mget(handle_, read_keys_.data(), read_lengths_.data(), read_keys_.size());
  }
  // SOME_ERRORS: some servers were asked, others failed (each keeps its error).
  bool sent = !memcached_failed(rc) || rc == MEMCACHED_SOME_ERRORS;
  memcached_return_t fetch_rc = MEMCACHED_END;
  if (sent) {
    while (memcached_fetch_result(handle_, &result_, &fetch_rc) != nullptr) {
      std::string_view key(memcached_result_key_value(&result_), memcached_result_key_length(&result_));
      uint32_t head = *FindReadSlot(key);
      if (head == kNoItem) {
        // A value for a key nobody asked for: that server's replies cannot be matched to
        // requests any more (a reply that lags behind, a proxy that mixed connections up, a
        // liar). Its connection is closed and its keys of this fetch fail below; a value is
        // never handed to another key.
        RefuseServer(MEMCACHED_PROTOCOL_ERROR, "a value for a key that was not asked for");
        continue;
      }
      ReadHead& asked = read_heads_[head];
      if (read_items_[asked.first].item->hit) {
        // Each key is asked once per fetch, so a second value for it is a reply nobody asked for.
        RefuseServer(MEMCACHED_PROTOCOL_ERROR, "a second value for one key");
        continue;
      }
#ifndef LIBMEMCACHED_SYSTEM
      asked.from = handle_->fetched_from;
#endif
      // A stored empty value comes back as a NULL pointer with SUCCESS: hit or miss is decided
      // by the result's presence, never by the pointer.
      const char* data = memcached_result_value(&result_);
      size_t length = data != nullptr ? memcached_result_length(&result_) : 0;
      for (uint32_t i = read_heads_[head].first; i != kNoItem; i = read_items_[i].next) {
        Item* item = read_items_[i].item;
        item->hit = true;
        // A large value goes to a pooled block, which JavaScript then takes over without a
        // copy (value_pool.h): the first item asking for it takes libmemcached's own buffer,
        // any other gets a copy. When no block can be had, it goes to `result` like any other.
        bool pooled = length >= kPooledValueMin &&
                      (i == read_heads_[head].first ? item->large.Adopt(result_.value, length) : item->large.Assign(data, length));
        if (!pooled) item->result.assign(data != nullptr ? data : "", length);
        // The others copy from the first's block: libmemcached's buffer may have gone to the
        // pool, or been freed, in exchange for one of this value's size (PooledBytes::Adopt).
        if (pooled && i == read_heads_[head].first) data = item->large.data();
        item->result_flags = memcached_result_flags(&result_);
        // Here rather than on the JS thread: text is made a string by Client::LargeValue.
        if (pooled && text_flags_ >= 0 && item->result_flags == static_cast<uint32_t>(text_flags_)) item->large.CheckAscii();
        item->result_cas = memcached_result_cas(&result_);
      }
    }
  }
  // memcached_mget skips a server it cannot connect to (or write to) and still reports success,
  // or SOME_ERRORS: that server's keys would look like misses. Any error recorded since the mget
  // began (it clears them) says some server failed; then each key without a value is sorted out
  // below. Otherwise every key without a value truly missed.
  bool fetched = fetch_rc == MEMCACHED_END || fetch_rc == MEMCACHED_NOTFOUND || fetch_rc == MEMCACHED_SUCCESS;
  if (rc == MEMCACHED_SUCCESS && fetched && refused_ == nullptr && !memcached_failed(memcached_last_error(handle_))) {
    return;
  }
#ifdef LIBMEMCACHED_SYSTEM
  DropUnreadReplies();
#endif
  bool moved = RingGeneration() != generation;
  read_retry_.clear();
  for (uint32_t k : read_asked_) {
    Item* first = read_items_[read_heads_[k].first].item;
    // The server this key's answer was to come from, and how it failed in this query.
    const memcached_instance_st* server;
    if (first->hit) {
#ifdef LIBMEMCACHED_SYSTEM
      continue;
#else
      // A value from a server whose replies then broke off or went wrong is not trusted either:
      // in the binary protocol a lying body length makes a value swallow the packets after it,
      // and only the failure that follows shows it.
      server = static_cast<const memcached_instance_st*>(read_heads_[k].from);
      if (server == nullptr || !memcached_failed(ServerFailure(server))) continue;
      for (uint32_t i = read_heads_[k].first; i != kNoItem; i = read_items_[i].next) read_items_[i].item->ResetOutputs();
#endif
    } else {
      memcached_return_t ignored;
      server = memcached_server_by_key(handle_, first->key.data(), first->key.size(), &ignored);
    }
    memcached_return_t failure = server != nullptr ? ServerFailure(server) : MEMCACHED_SUCCESS;
    if (!memcached_failed(failure) && !sent) failure = rc;  // nothing was asked
#ifdef LIBMEMCACHED_SYSTEM
    if (!memcached_failed(failure) && refused_ != nullptr) failure = MEMCACHED_PROTOCOL_ERROR;
#endif
    if (memcached_failed(failure)) {
      const char* detail = refused_ != nullptr && (server == refused_server_ || refused_server_ == nullptr) ? refused_ : nullptr;
      for (uint32_t i = read_heads_[k].first; i != kNoItem; i = read_items_[i].next) {
        Fail(read_items_[i].op, read_items_[i].item, failure, detail);
      }
    } else if (moved) {
      read_retry_.push_back(k);
    }
  }
  if (read_retry_.empty() || !may_retry) return;
  read_asked_.swap(read_retry_);
  read_keys_.clear();
  read_lengths_.clear();
  for (uint32_t k : read_asked_) {
    const std::string& key = read_items_[read_heads_[k].first].item->key;
    read_keys_.push_back(key.data());
    read_lengths_.push_back(key.size());
  }
  Fetch(false);
}

// Fails the server the last fetched result came from, for the rest of this query.
void IoThread::RefuseServer(memcached_return_t rc, const char* why) {
#ifndef LIBMEMCACHED_SYSTEM
  auto* server = const_cast<memcached_instance_st*>(handle_->fetched_from);
  if (server == nullptr) return;
  memcached_server_query_failed(server, rc);
  memcached_quit_server(server, true);
  refused_ = why;
  refused_server_ = server;
#else
  // The shared library cannot tell which server sent it: the whole fetch is refused.
  refused_ = why;
  memcached_quit(handle_);
#endif
}

}  // namespace lmc
