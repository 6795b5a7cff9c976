// Forced into every C++ file of the addon (binding.gyp, -include): keeps the calls that
// libstdc++'s headers expand into within what glibc 2.28 provides, the floor the prebuilds
// promise (docs/installing.md).
//
// libstdc++ built against glibc 2.30 or later waits on a condition variable with a steady-clock
// deadline through pthread_cond_clockwait (glibc 2.30, and 2.34 once libpthread moved into
// libc). Without the macro it converts the deadline and uses pthread_cond_timedwait, in every
// glibc, re-checking the steady clock after each wake-up, so the wait is as long as asked.
#pragma once

#if defined(__linux__) && defined(__cplusplus) && __has_include(<bits/c++config.h>)
#include <bits/c++config.h>
#undef _GLIBCXX_USE_PTHREAD_COND_CLOCKWAIT
#undef _GLIBCXX_USE_PTHREAD_MUTEX_CLOCKLOCK
#undef _GLIBCXX_USE_PTHREAD_RWLOCK_CLOCKLOCK
#endif
