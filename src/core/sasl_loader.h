// Cyrus SASL, loaded when a client first needs it rather than when the addon loads: minimal
// images (node:*-slim, Alpine) have no libsasl2, and every client that does not authenticate
// must work there. sasl_loader.cc defines the sasl_* functions libmemcached calls, forwarding
// each to the library opened at run time.
#pragma once

#include <string>

namespace lmc {

// Whether libsasl2 can be loaded on this machine (it is loaded by the first call). Always false
// for a build without SASL.
bool SaslAvailable();

// Why it cannot, with the packages that provide it; empty when it can.
std::string SaslUnavailableReason();

}  // namespace lmc
