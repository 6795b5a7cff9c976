// An I/O thread's writes: runs of sets and deletes pipelined in chunks, each reply read in order
// and given to its own caller.
#include <algorithm>

#include "core/io_thread.h"
#include "core/libmemcached_private.h"

namespace lmc {

namespace {

// A pipelined chunk stays below libmemcached's IO watermarks (by default 500 replies
// outstanding, 66560 bytes sent before a read): past them its purge reads and throws replies
// away. See RunWrites.
constexpr size_t kChunkReplies = 400;
constexpr size_t kChunkBytes = 60000;
constexpr size_t kChunkBytesMargin = 1024;  // below the bytes watermark: kRequestOverhead is a guess
constexpr size_t kRequestOverhead = 64;     // command, flags, lengths, CRLFs

}  // namespace

#ifdef LIBMEMCACHED_SYSTEM
// After a failed fetch, the connections still owing replies are closed, so that no later
// request reads them as its own (the bundled library's fetch does this itself).
void IoThread::DropUnreadReplies() {
  uint32_t count = memcached_server_count(handle_);
  for (uint32_t i = 0; i < count; i++) {
    const memcached_instance_st* server = memcached_server_instance_by_position(handle_, i);
    if (memcached_server_response_count(server) != 0) {
      memcached_quit(handle_);  // the shared library exports no per-server close
      return;
    }
  }
}
#endif

// Sets and deletes, pipelined: with BUFFER_REQUESTS, libmemcached queues each command without
// waiting for its reply (returning MEMCACHED_BUFFERED); a chunk is then flushed to every server
// at once and each reply read in order, so every caller still gets its own true answer.
void IoThread::RunWrites(Operation** begin, Operation** end) {
  // A chunk stays below libmemcached's IO watermarks, read from the handle each time since
  // setBehaviors may have lowered them (_io_msg_watermark, _io_bytes_watermark): past them, its
  // purge reads replies and throws them away, and callers would get one another's answers.
  // A chunk always takes one item, however large: with one reply owed, purge reads nothing.
  uint64_t messages = memcached_behavior_get(handle_, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK);
  uint64_t bytes_mark = memcached_behavior_get(handle_, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK);
  size_t max_replies = messages > 1 ? static_cast<size_t>(std::min<uint64_t>(kChunkReplies, messages - 1)) : 1;
  size_t max_bytes = bytes_mark > kChunkBytes + kChunkBytesMargin ? kChunkBytes
                     : bytes_mark > kChunkBytesMargin         ? static_cast<size_t>(bytes_mark - kChunkBytesMargin)
                                                               : 0;
  chunk_.clear();
  size_t chunk_bytes = 0;
  for (Operation** it = begin; it != end; ++it) {
    Operation* op = *it;
    for (Item& item : op->items) {
      size_t bytes = item.key.size() + item.value.size() + kRequestOverhead;
      if (!chunk_.empty() && (chunk_.size() >= max_replies || chunk_bytes + bytes > max_bytes)) {
        DrainChunk();
        chunk_bytes = 0;
      }
      memcached_return_t rc = RunItem(op, item);
      if (rc == MEMCACHED_BUFFERED) {
        // The server the command went to, looked up after the call: the call itself may have
        // rebuilt the ring first (a failed server's dead_timeout passing), and the reply must
        // be read from where the command went.
        memcached_return_t ignored;
        const memcached_instance_st* server = memcached_server_by_key(handle_, item.key.data(), item.key.size(), &ignored);
        chunk_.push_back({&item, op, const_cast<memcached_instance_st*>(server)});
        chunk_bytes += bytes;
      } else {
        Fail(op, &item, rc == MEMCACHED_DELETED || rc == MEMCACHED_STORED ? MEMCACHED_SUCCESS : rc);
      }
    }
  }
  if (!chunk_.empty()) DrainChunk();
}

void IoThread::DrainChunk() {
#ifndef LIBMEMCACHED_SYSTEM
  memcached_return_t flush_rc = memcached_flush_buffers(handle_);
  for (const Pending& pending : chunk_) {
    memcached_return_t rc;
    if (pending.server == nullptr || memcached_server_response_count(pending.server) == 0) {
      // The connection failed (while flushing, or a timeout on an earlier reply closed it):
      // these replies will never come. The server's own error says why.
      memcached_return_t server_rc = pending.server != nullptr ? memcached_server_error_return(pending.server) : MEMCACHED_SUCCESS;
      rc = memcached_failed(flush_rc) ? flush_rc : memcached_failed(server_rc) ? server_rc : MEMCACHED_CONNECTION_FAILURE;
    } else {
      rc = memcached_read_one_response(pending.server, &result_);
      // A reply that is not one this command can get (a number, VALUE, OK, ...) is a protocol
      // error, never "stored" or "deleted"; the connection is closed.
      rc = memcached_response_check(pending.server, rc, pending.op->code == OpCode::Delete ? kReplyToDelete : kReplyToStore);
      if (rc == MEMCACHED_STORED || rc == MEMCACHED_DELETED) rc = MEMCACHED_SUCCESS;
    }
    Fail(pending.op, pending.item, rc);
  }
#endif
  chunk_.clear();
}

}  // namespace lmc
