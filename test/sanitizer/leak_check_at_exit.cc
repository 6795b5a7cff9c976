// Built into the sanitizer build of the addon only (scripts/test-sanitize.sh): runs LeakSanitizer's
// leak check when a process that loaded the addon exits.
//
// The script runs the tests with ASAN_OPTIONS=leak_check_at_exit=0, because LD_PRELOAD puts ASan
// into every program the tests start (python3 for pylibmc, memcached, the compiler of the package
// test...), whose own leaks would otherwise fail them and the run. So the check runs in exactly the
// processes that ran the addon's code. __lsan_do_leak_check is the at-exit check itself, with the
// same options, suppressions and exit code. Registered with atexit when the addon is loaded (node
// never unloads it), it runs at exit(): after Node's teardown on a normal exit, at once on
// process.exit(), as the check it replaces would.
#include <sanitizer/lsan_interface.h>

#include <cstdlib>

namespace {

struct LeakCheckAtExit {
  LeakCheckAtExit() { std::atexit([] { __lsan_do_leak_check(); }); }
} leak_check_at_exit;

}  // namespace
