// Operations: which return codes are answers rather than failures, and disposal of those never delivered.
#include "core/operation.h"

namespace lmc {

bool IsSoftResult(memcached_return_t rc) {
  switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_STORED:
    case MEMCACHED_DELETED:
    case MEMCACHED_END:
    case MEMCACHED_NOTFOUND:
    case MEMCACHED_NOTSTORED:
    case MEMCACHED_DATA_EXISTS:
    case MEMCACHED_BUFFERED:
      return true;
    default:
      return false;
  }
}

void DiscardOperation(Operation* op) {
  Operation* whole = op->parent != nullptr ? op->parent : op;
  if (op->parent != nullptr) delete op;
  if (whole->remaining.fetch_sub(1) == 1) delete whole;
}

}  // namespace lmc
