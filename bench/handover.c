/* The cost of the two thread hand-overs of an awaited call, without JavaScript or memcached:
 * thread A (the "JS thread") wakes thread B (the "I/O thread") with a condition variable, as
 * the addon's Enqueue does, and B wakes A through an eventfd that A waits for in epoll, as
 * libuv's uv_async_send does. Prints the median round trip in microseconds, the same with both
 * threads pinned to one CPU (where the scheduler put them is the other part of a wake-up's cost),
 * and the same with both threads spinning instead of sleeping (what the hand-overs cost beyond
 * the wake-ups).
 *
 *   handover ROUNDS
 *
 * Built and run by bench/handover.js.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int pending = 0, stop = 0, efd;
static volatile int spin_flag = 0;

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *io_thread(void *arg) {
  (void) arg;
  for (;;) {
    pthread_mutex_lock(&mutex);
    while (!pending && !stop) pthread_cond_wait(&cond, &mutex);
    if (stop) {
      pthread_mutex_unlock(&mutex);
      return NULL;
    }
    pending = 0;
    pthread_mutex_unlock(&mutex);
    uint64_t one = 1;
    if (write(efd, &one, sizeof one) != sizeof one) exit(1);
  }
}

static void *spinner(void *arg) {
  (void) arg;
  for (;;) {
    while (spin_flag == 0) {}
    if (spin_flag < 0) return NULL;
    spin_flag = 0;
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* The median round trip of `rounds` sleeping hand-overs; with `cpu` >= 0, both threads run on
 * that CPU only. */
static double sleeping_round_trip(int rounds, double *t, int ep, int cpu) {
  pthread_t th;
  stop = 0;
  pthread_create(&th, NULL, io_thread, NULL);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(th, sizeof set, &set) != 0 || pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
      exit(1);
    }
  }
  for (int i = 0; i < rounds; i++) {
    double t0 = now_us();
    pthread_mutex_lock(&mutex);
    pending = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
    struct epoll_event out;
    while (epoll_wait(ep, &out, 1, -1) != 1) {}
    uint64_t value;
    if (read(efd, &value, sizeof value) != sizeof value) exit(1);
    t[i] = now_us() - t0;
  }
  pthread_mutex_lock(&mutex);
  stop = 1;
  pthread_cond_signal(&cond);
  pthread_mutex_unlock(&mutex);
  pthread_join(th, NULL);
  qsort(t, (size_t) rounds, sizeof(double), cmp);
  return t[rounds / 2];
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 20000;
  double *t = malloc(sizeof(double) * (size_t) rounds);
  if (t == NULL) return 1;
  efd = eventfd(0, EFD_NONBLOCK);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  if (efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) return 1;
  /* The process's own affinity, to restore after the pinned run (taskset may have set it). */
  cpu_set_t all;
  if (sched_getaffinity(0, sizeof all, &all) != 0) return 1;
  double sleeping = sleeping_round_trip(rounds, t, ep, -1);
  int cpu = sched_getcpu();
  double same_cpu = cpu >= 0 ? sleeping_round_trip(rounds, t, ep, cpu) : -1;
  if (pthread_setaffinity_np(pthread_self(), sizeof all, &all) != 0) return 1;

  pthread_t th;
  pthread_create(&th, NULL, spinner, NULL);
  for (int i = 0; i < rounds; i++) {
    double t0 = now_us();
    spin_flag = 1;
    while (spin_flag != 0) {}
    t[i] = now_us() - t0;
  }
  spin_flag = -1;
  pthread_join(th, NULL);
  qsort(t, (size_t) rounds, sizeof(double), cmp);
  printf("{\"sleepingUs\":%.1f,\"sameCpuUs\":%.1f,\"spinningUs\":%.2f}\n", sleeping, same_cpu, t[rounds / 2]);
  return 0;
}
