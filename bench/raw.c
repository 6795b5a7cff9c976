/* The ceiling: the same workloads in C on the same static libmemcached, one thread, one
 * connection, no JavaScript. Prints one JSON object of ops/s (keys/s for mget).
 *
 *   raw HOST PORT SECONDS
 *
 * Built by bench/run.js against deps/.cache/install.
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

#define NKEYS 1000
static char keys[NKEYS][32];
static size_t lengths[NKEYS];

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  double seconds = atof(argv[3]);
  memcached_st *m = memcached_create(NULL);
  memcached_server_add(m, argv[1], (in_port_t) atoi(argv[2]));
  memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  char value[100];
  memset(value, 'x', sizeof value);
  static char big[256 * 1024];
  memset(big, 'y', sizeof big);
  for (int i = 0; i < NKEYS; i++) {
    lengths[i] = (size_t) snprintf(keys[i], sizeof keys[i], "raw:%d", i);
    if (memcached_set(m, keys[i], lengths[i], value, sizeof value, 0, 0) != MEMCACHED_SUCCESS) return 1;
  }
  if (memcached_set(m, "raw:big", 7, big, sizeof big, 0, 0) != MEMCACHED_SUCCESS) return 1;

  memcached_return_t rc;
  long n;
  double t0, elapsed;

  for (n = 0, t0 = now(); (elapsed = now() - t0) < seconds; n++) {
    size_t length;
    uint32_t flags;
    char *v = memcached_get(m, keys[n % NKEYS], lengths[n % NKEYS], &length, &flags, &rc);
    if (v == NULL) return 1;
    free(v);
  }
  double get = n / elapsed;

  for (n = 0, t0 = now(); (elapsed = now() - t0) < seconds; n++) {
    if (memcached_set(m, keys[n % NKEYS], lengths[n % NKEYS], value, sizeof value, 0, 0) != MEMCACHED_SUCCESS) return 1;
  }
  double set = n / elapsed;

  memcached_result_st result;
  memcached_result_create(m, &result);
  long fetched = 0;
  for (n = 0, t0 = now(); (elapsed = now() - t0) < seconds; n++) {
    int base = (int) ((n * 100) % (NKEYS - 100));
    const char *k[100];
    size_t l[100];
    for (int j = 0; j < 100; j++) {
      k[j] = keys[base + j];
      l[j] = lengths[base + j];
    }
    if (memcached_mget(m, k, l, 100) != MEMCACHED_SUCCESS) return 1;
    while (memcached_fetch_result(m, &result, &rc) != NULL) fetched++;
  }
  double mget = fetched / elapsed;
  memcached_result_free(&result);

  for (n = 0, t0 = now(); (elapsed = now() - t0) < seconds; n++) {
    size_t length;
    uint32_t flags;
    char *v = memcached_get(m, "raw:big", 7, &length, &flags, &rc);
    if (v == NULL || length != sizeof big) return 1;
    free(v);
  }
  double bigget = n / elapsed;

  for (n = 0, t0 = now(); (elapsed = now() - t0) < seconds; n++) {
    if (memcached_set(m, "raw:bigset", 10, big, sizeof big, 0, 0) != MEMCACHED_SUCCESS) return 1;
  }
  double bigset = n / elapsed;

  printf("{\"get\":%.0f,\"set\":%.0f,\"mgetKeys\":%.0f,\"get256k\":%.0f,\"set256k\":%.0f}\n", get, set, mget, bigget,
         bigset);
  memcached_free(m);
  return 0;
}
