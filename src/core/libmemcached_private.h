// Everything of libmemcached the addon uses beyond its API, in one place and checked against the
// version it was written for: a field of memcached_st, internal functions of libmemcached 1.1.4,
// and the functions our patches add (deps/patches). The functions exist only in the bundled
// static library; a build against a distribution's shared library (LIBMEMCACHED_SYSTEM) goes
// without them, and src/ says what it does instead wherever one is used.
#pragma once

#include <libmemcached/memcached.h>

// The continuum's "weighted" mark, memcached_st::ketama.weighted_: in the installed headers, but
// not part of the API (see CloneHandle in engine.cc). Its place in the struct is 1.1's.
#if LIBMEMCACHED_VERSION_HEX < 0x01001004 || LIBMEMCACHED_VERSION_HEX >= 0x01002000
#error "memcached_st::ketama.weighted_ is read as libmemcached 1.1.x lays it out; check it against this version"
#endif
namespace lmc {
inline bool KetamaWeighted(const memcached_st* memc) { return memc->ketama.weighted_; }
inline void SetKetamaWeighted(memcached_st* memc, bool weighted) { memc->ketama.weighted_ = weighted; }
}  // namespace lmc

#ifndef LIBMEMCACHED_SYSTEM

#if LIBMEMCACHED_VERSION_HEX != 0x01001004
#error "the bundled build declares libmemcached 1.1.4's internal functions; check them against this version"
#endif

// Reads exactly one reply from `instance`, in order (src/libmemcached/response.h).
memcached_return_t memcached_read_one_response(memcached_instance_st* instance, memcached_result_st* result);

// Closes one server's connection (src/libmemcached/quit.hpp); `io_death` skips the goodbye.
void memcached_quit_server(memcached_instance_st* instance, bool io_death);

// deps/patches/0002-strict-reply-parsing.patch: the kinds of command whose replies
// memcached_response_check() tells apart (enum memcached_command_kind_t in response.h).
namespace lmc {
enum ReplyCommand : int {
  kReplyToGet = 1,
  kReplyToStore = 2,
  kReplyToDelete = 3,
};
}  // namespace lmc

// Returns `rc` when the reply just read from `instance` is one a command of kind `command` can
// get; otherwise closes the connection and returns MEMCACHED_PROTOCOL_ERROR.
memcached_return_t memcached_response_check(memcached_instance_st* instance, memcached_return_t rc, int command);

// The failure `instance` had in its handle's current query, or MEMCACHED_SUCCESS.
memcached_return_t memcached_server_query_error(const memcached_instance_st* instance);
// Records `rc` as `instance`'s failure in its handle's current query.
void memcached_server_query_failed(memcached_instance_st* instance, memcached_return_t rc);

// deps/patches/0003-per-server-stats-and-flush.patch: memcached_stat and memcached_flush for
// the server at `index` alone; with `func`, each statistic is also passed to it.
memcached_return_t memcached_stat_server(memcached_st* memc, uint32_t index, const char* args, memcached_stat_st* stat,
                                         memcached_stat_fn func, void* context);
memcached_return_t memcached_flush_server(memcached_st* memc, uint32_t index, time_t expiration);

#endif  // LIBMEMCACHED_SYSTEM
