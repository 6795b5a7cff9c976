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
static const char *key_list[NKEYS];
static size_t lengths[NKEYS];
#define NMANY 10000
static char many[NMANY][32];
static const char *many_keys[NMANY];
static size_t many_lengths[NMANY];

/* Keys per second of memcached_mget + memcached_fetch_result of `n` of the `count` keys `list`,
 * a different run of them each time. */
static double mget_n(memcached_st *m, memcached_result_st *result, const char *const *list, const size_t *list_lengths,
                     int count, int n, double seconds) {
  memcached_return_t rc;
  long fetched = 0;
  double t0 = now(), elapsed;
  for (long i = 0; (elapsed = now() - t0) < seconds; i++) {
    int base = (int) ((i * n) % count);
    if (base + n > count) base = 0;
    if (memcached_mget(m, list + base, list_lengths + base, (size_t) n) != MEMCACHED_SUCCESS) exit(1);
    while (memcached_fetch_result(m, result, &rc) != NULL) fetched++;
  }
  return fetched / elapsed;
}

/* Gets per second of one value of `size` bytes (memcached_get, which allocates the value). */
static double get_large(memcached_st *m, const char *key, size_t size, double seconds) {
  memcached_return_t rc;
  long n;
  double t0, elapsed;
  for (n = 0, t0 = now(); (elapsed = now() - t0) < seconds; n++) {
    size_t length;
    uint32_t flags;
    char *v = memcached_get(m, key, strlen(key), &length, &flags, &rc);
    if (v == NULL || length != size) exit(1);
    free(v);
  }
  return n / elapsed;
}

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
    key_list[i] = keys[i];
    if (memcached_set(m, keys[i], lengths[i], value, sizeof value, 0, 0) != MEMCACHED_SUCCESS) return 1;
  }
  for (int i = 0; i < NMANY; i++) {
    many_lengths[i] = (size_t) snprintf(many[i], sizeof many[i], "raw:many:%d", i);
    many_keys[i] = many[i];
    if (memcached_set(m, many[i], many_lengths[i], value, sizeof value, 0, 0) != MEMCACHED_SUCCESS) return 1;
  }
  /* The large values of the get rows (the server runs with -I 8m). */
  static const size_t large_sizes[4] = {64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024};
  static const char *large_keys[4] = {"raw:large:64", "raw:large:256", "raw:large:1024", "raw:large:4096"};
  char *large = malloc(large_sizes[3]);
  if (large == NULL) return 1;
  memset(large, 'y', large_sizes[3]);
  for (int i = 0; i < 4; i++) {
    if (memcached_set(m, large_keys[i], strlen(large_keys[i]), large, large_sizes[i], 0, 0) != MEMCACHED_SUCCESS) return 1;
  }
  free(large);

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
  double mget = mget_n(m, &result, key_list, lengths, NKEYS, 100, seconds);
  memcached_result_free(&result);

  double get_large_rows[4];
  for (int i = 0; i < 4; i++) get_large_rows[i] = get_large(m, large_keys[i], large_sizes[i], seconds);

  memcached_result_create(m, &result);
  double mget1000 = mget_n(m, &result, many_keys, many_lengths, NMANY, 1000, seconds);
  double mget10000 = mget_n(m, &result, many_keys, many_lengths, NMANY, 10000, seconds);
  memcached_result_free(&result);

  for (n = 0, t0 = now(); (elapsed = now() - t0) < seconds; n++) {
    if (memcached_set(m, "raw:bigset", 10, big, sizeof big, 0, 0) != MEMCACHED_SUCCESS) return 1;
  }
  double bigset = n / elapsed;

  printf("{\"get\":%.0f,\"set\":%.0f,\"mgetKeys\":%.0f,\"mget1000Keys\":%.0f,\"mget10000Keys\":%.0f,"
         "\"get64KiB\":%.0f,\"get256KiB\":%.0f,\"get1MiB\":%.0f,\"get4MiB\":%.0f,\"set256k\":%.0f}\n",
         get, set, mget, mget1000, mget10000, get_large_rows[0], get_large_rows[1], get_large_rows[2], get_large_rows[3], bigset);
  memcached_free(m);
  return 0;
}
