/* libmemcached in C, the sequence behind deps/patches/0008's order of purge and send: requests
 * held in the write buffer (BUFFER_REQUESTS), then a request of 8 KiB or more that is sent at
 * once, while enough replies are owed that libmemcached first purges them (IO_MSG_WATERMARK 2).
 * The purge sends the buffer itself; the large request must not send it a second time. Prints
 * one line of JSON: the add's result and what a get reads afterwards (the pairing of replies).
 * The addon never buffers before a large add (it flushes buffered writes first), so this is
 * tested here, on the library. */
#include "client-from-args.h"
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  memcached_st *mc = client_from_args(argc, argv);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK, 2);

  char key[16];
  char value[16];
  for (int i = 1; i <= 3; i++) {
    snprintf(key, sizeof key, "buffered%d", i);
    snprintf(value, sizeof value, "value%d", i);
    memcached_return_t rc = memcached_set(mc, key, strlen(key), value, strlen(value), 0, 0);
    if (rc != MEMCACHED_BUFFERED) {
      fprintf(stderr, "set %s: %s\n", key, memcached_strerror(mc, rc));
      return 2;
    }
  }

  static char large[16 * 1024];
  memset(large, 'x', sizeof large);
  memcached_return_t add = memcached_add(mc, "large", 5, large, sizeof large, 0, 0);

  size_t length = 0;
  uint32_t flags = 0;
  memcached_return_t got;
  char *read = memcached_get(mc, "buffered1", 9, &length, &flags, &got);
  printf("{\"add\":\"%s\",\"get\":\"%s\",\"value\":\"%.*s\"}\n", memcached_strerror(mc, add),
         memcached_strerror(mc, got), read != NULL ? (int) length : 0, read != NULL ? read : "");
  free(read);
  memcached_free(mc);
  return 0;
}
