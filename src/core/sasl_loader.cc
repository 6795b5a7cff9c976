// The sasl_* functions libmemcached calls, forwarded to libsasl2 opened with dlopen on first
// use (see sasl_loader.h). Bundled build only: a system libmemcached links libsasl2 itself.
#include "core/sasl_loader.h"

#include <libmemcached/memcached.h>

// configure.h defines the macro as 0 or 1 (cmakedefine01), never leaves it undefined.
#if defined(LIBMEMCACHED_WITH_SASL_SUPPORT) && LIBMEMCACHED_WITH_SASL_SUPPORT && !defined(LIBMEMCACHED_SYSTEM)

#include <dlfcn.h>
#include <sasl/sasl.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace lmc {
namespace {

// Cyrus SASL 2's file names, tried in order: libsasl2.so.2 up to 2.1.27 (Debian, Ubuntu),
// libsasl2.so.3 from 2.1.28 (Alpine, Fedora, RHEL 9, Amazon Linux 2023; the functions below
// did not change), and macOS's. LIBMEMCACHED_SASL_LIBRARY names the one file to try instead:
// the tests use it to run as on a machine without the library.
std::vector<std::string> LibraryNames() {
  const char* name = std::getenv("LIBMEMCACHED_SASL_LIBRARY");
  if (name != nullptr && name[0] != '\0') return {name};
  return {"libsasl2.so.2", "libsasl2.so.3", "libsasl2.2.dylib"};
}

struct Sasl {
  decltype(&::sasl_client_init) client_init = nullptr;
  decltype(&::sasl_client_new) client_new = nullptr;
  decltype(&::sasl_client_start) client_start = nullptr;
  decltype(&::sasl_client_step) client_step = nullptr;
  decltype(&::sasl_client_done) client_done = nullptr;
  decltype(&::sasl_dispose) dispose = nullptr;
  decltype(&::sasl_errstring) errstring = nullptr;
  std::string name;   // the file that was opened
  std::string error;  // why it could not be loaded
};

template <typename Fn>
bool Bind(void* library, const char* symbol, Fn& out, std::string& error) {
  out = reinterpret_cast<Fn>(dlsym(library, symbol));
  if (out == nullptr && error.empty()) error = std::string(symbol) + " not found in the Cyrus SASL library";
  return out != nullptr;
}

// Opened once and never closed: libmemcached may call into it from any I/O thread until exit.
const Sasl& Library() {
  static Sasl sasl;
  static std::once_flag once;
  std::call_once(once, [] {
    void* library = nullptr;
    for (const std::string& name : LibraryNames()) {
      library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (library != nullptr) {
        sasl.name = name;
        break;
      }
      const char* why = dlerror();
      if (sasl.error.empty()) sasl.error = why != nullptr ? why : name + ": dlopen failed";
    }
    if (library == nullptr) return;
    sasl.error.clear();
    bool ok = Bind(library, "sasl_client_init", sasl.client_init, sasl.error) &&
              Bind(library, "sasl_client_new", sasl.client_new, sasl.error) &&
              Bind(library, "sasl_client_start", sasl.client_start, sasl.error) &&
              Bind(library, "sasl_client_step", sasl.client_step, sasl.error) &&
              Bind(library, "sasl_client_done", sasl.client_done, sasl.error) &&
              Bind(library, "sasl_dispose", sasl.dispose, sasl.error) &&
              Bind(library, "sasl_errstring", sasl.errstring, sasl.error);
    if (!ok) sasl.client_init = nullptr;  // unusable: every call below fails
  });
  return sasl;
}

bool Loaded() { return Library().client_init != nullptr; }

}  // namespace

bool SaslAvailable() { return Loaded(); }

std::string SaslUnavailableReason() {
  if (Loaded()) return std::string();
  return "SASL needs the Cyrus SASL library (" + Library().error +
         "); install it: apt-get install libsasl2-2 libsasl2-modules (Debian, Ubuntu), apk add cyrus-sasl "
         "cyrus-sasl-login (Alpine), dnf install cyrus-sasl-lib cyrus-sasl-plain (Fedora, RHEL)";
}

}  // namespace lmc

// The definitions libmemcached's sasl.cc links against. Without the library each fails the
// way libsasl2 itself reports a failure; construction of a SASL client is refused before that
// (config.cc), so these are only a net.
extern "C" {

int sasl_client_init(const sasl_callback_t* callbacks) {
  return lmc::Loaded() ? lmc::Library().client_init(callbacks) : SASL_FAIL;
}

int sasl_client_new(const char* service, const char* server_fqdn, const char* iplocalport, const char* ipremoteport,
                    const sasl_callback_t* prompt_supp, unsigned flags, sasl_conn_t** pconn) {
  if (!lmc::Loaded()) return SASL_FAIL;
  return lmc::Library().client_new(service, server_fqdn, iplocalport, ipremoteport, prompt_supp, flags, pconn);
}

int sasl_client_start(sasl_conn_t* conn, const char* mechlist, sasl_interact_t** prompt_need, const char** clientout,
                      unsigned* clientoutlen, const char** mech) {
  if (!lmc::Loaded()) return SASL_FAIL;
  return lmc::Library().client_start(conn, mechlist, prompt_need, clientout, clientoutlen, mech);
}

int sasl_client_step(sasl_conn_t* conn, const char* serverin, unsigned serverinlen, sasl_interact_t** prompt_need,
                     const char** clientout, unsigned* clientoutlen) {
  if (!lmc::Loaded()) return SASL_FAIL;
  return lmc::Library().client_step(conn, serverin, serverinlen, prompt_need, clientout, clientoutlen);
}

int sasl_client_done(void) { return lmc::Loaded() ? lmc::Library().client_done() : SASL_NOTINIT; }

void sasl_dispose(sasl_conn_t** pconn) {
  if (lmc::Loaded()) lmc::Library().dispose(pconn);
}

const char* sasl_errstring(int saslerr, const char* langlist, const char** outlang) {
  if (lmc::Loaded()) return lmc::Library().errstring(saslerr, langlist, outlang);
  if (outlang != nullptr) *outlang = "en-us";
  return "the Cyrus SASL library is not installed";
}

}  // extern "C"

#else  // a build without SASL, or against a system libmemcached (which links libsasl2 itself)

namespace lmc {

#if defined(LIBMEMCACHED_WITH_SASL_SUPPORT) && LIBMEMCACHED_WITH_SASL_SUPPORT
bool SaslAvailable() { return true; }
std::string SaslUnavailableReason() { return std::string(); }
#else
bool SaslAvailable() { return false; }
std::string SaslUnavailableReason() {
  return "this addon was built without SASL (Cyrus SASL's headers were missing when it was built, or "
         "LIBMEMCACHED_SASL=off); install them (libsasl2-dev, cyrus-sasl-dev or cyrus-sasl-devel) and run "
         "`npm rebuild libmemcached --build-from-source`";
}
#endif

}  // namespace lmc

#endif
