/* The set-up the C test programs share: a libmemcached client of the one server named by
 * HOST PORT on the command line, or exit status 2 with a message. */
#pragma once
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>

static memcached_st *client_from_args(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
    exit(2);
  }
  memcached_st *mc = memcached_create(NULL);
  if (mc == NULL || memcached_server_add(mc, argv[1], (in_port_t) atoi(argv[2])) != MEMCACHED_SUCCESS) {
    fprintf(stderr, "cannot set up the client\n");
    exit(2);
  }
  return mc;
}
