// libmemcached's numbers by name, as this addon was compiled against them: exported to
// JavaScript so that lib/constants.ts reads them instead of typing them again.
#pragma once

#include <napi.h>

namespace lmc {

// { returnCodes, softReturnCodes, behaviors, hashes, distributions }: each table maps the C
// enumerator's name to its value; softReturnCodes lists the codes IsSoftResult counts as answers.
Napi::Object Constants(Napi::Env env);

}  // namespace lmc
