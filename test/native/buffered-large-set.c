/* libmemcached in C: how a set of a large value leaves when requests are buffered
 * (BUFFER_REQUESTS, as the addon pipelines its writes). deps/patches/0008 sends a request of 8 KiB
 * or more at once, in one sendmsg() from the caller's memory; without it, a buffered one was
 * copied through the 8 KiB write buffer and went out in 8 KiB sends flagged MSG_MORE (32 for
 * 256 KiB). send() and sendmsg() are counted here: defined in this program, they are the ones
 * the static libmemcached calls. Prints one line of JSON: the counts, the set's result and
 * whether a get then reads the value back whole.
 *
 *   buffered-large-set HOST PORT */
#define _GNU_SOURCE
#include "client-from-args.h"
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sendmsg_calls;
static size_t sendmsg_largest;
static int send_calls;
static int send_more_calls;

ssize_t sendmsg(int fd, const struct msghdr *message, int flags) {
  ssize_t sent = syscall(SYS_sendmsg, fd, message, flags);
  sendmsg_calls++;
  if (sent > 0 && (size_t) sent > sendmsg_largest) sendmsg_largest = (size_t) sent;
  return sent;
}

ssize_t send(int fd, const void *buffer, size_t length, int flags) {
  send_calls++;
  if (flags & MSG_MORE) send_more_calls++;
  return syscall(SYS_sendto, fd, buffer, length, flags, NULL, 0);
}

int main(int argc, char **argv) {
  memcached_st *mc = client_from_args(argc, argv);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  /* Connected first, so that only the set's own sends are counted. */
  memcached_return_t version = memcached_version(mc);
  if (memcached_failed(version)) {
    fprintf(stderr, "version: %s\n", memcached_strerror(mc, version));
    return 2;
  }

  static char large[256 * 1024];
  memset(large, 'x', sizeof large);
  large[sizeof large - 1] = 'y';
  sendmsg_calls = send_calls = send_more_calls = 0;
  sendmsg_largest = 0;
  memcached_return_t set = memcached_set(mc, "large", 5, large, sizeof large, 0, 0);
  memcached_return_t flushed = memcached_flush_buffers(mc);
  int counted_sendmsg = sendmsg_calls, counted_send = send_calls, counted_more = send_more_calls;
  size_t largest = sendmsg_largest;

  size_t length = 0;
  uint32_t flags = 0;
  memcached_return_t got;
  char *read = memcached_get(mc, "large", 5, &length, &flags, &got);
  int intact = read != NULL && length == sizeof large && memcmp(read, large, length) == 0;
  printf("{\"set\":\"%s\",\"flush\":\"%s\",\"sendmsg\":%d,\"largestSendmsg\":%zu,\"send\":%d,\"sendWithMore\":%d,"
         "\"get\":\"%s\",\"intact\":%s}\n",
         memcached_strerror(mc, set), memcached_strerror(mc, flushed), counted_sendmsg, largest, counted_send,
         counted_more, memcached_strerror(mc, got), intact ? "true" : "false");
  free(read);
  memcached_free(mc);
  return 0;
}
