// The batch format between JavaScript and the addon, defined once: the words of a request
// (written by lib/native/requests.ts, read by Client::Submit) and of a completion (written by
// Client::Deliver, read by lib/native/completions.ts), and the order of a completion's extras.
// lib/native/protocol.ts mirrors every name here; test/unit/native-contract.test.ts checks the mirror
// against what Protocol() exports from this header, field by field.
#pragma once

#include <napi.h>

#include <cstdint>

namespace lmc {

// What a request asks for. Mirrored by `OpCode` in lib/native/protocol.ts.
enum class OpCode : uint8_t {
  Get = 0,
  Set = 1,
  Add = 2,
  Replace = 3,
  Append = 4,
  Prepend = 5,
  Cas = 6,
  Delete = 7,
  Incr = 8,
  Decr = 9,
  Touch = 10,
  // Whole-client operations.
  FlushAll = 11,
  Stats = 12,
  Disconnect = 13,
  Close = 14,
  // Behaviors: read on one I/O thread's handle (reading some connects), set on every one.
  GetBehaviors = 15,
  SetBehaviors = 16,
};

constexpr uint8_t kOpCodeCount = 17;

namespace protocol {

// A request is kRequestWords uint32 words. A multi-key operation is one request with kMulti
// whose kKeyLength word is its item count, followed by one request per item, of which only the
// key, value, flags and exptime words are read.
enum RequestWord : uint32_t {
  kCode = 0,         // OpCode | kWantCas | kMulti
  kId = 1,           // the request id JavaScript gave the operation
  kKeyOffset = 2,    // key bytes in the byte buffer
  kKeyLength = 3,    // (multi-key header: the item count)
  kValueOffset = 4,  // value bytes in the byte buffer, or kInObjects
  kValueLength = 5,  // or, with kInObjects, the index in the objects array
  kFlags = 6,
  kExptime = 7,
  kNumberLow = 8,  // Cas: token; Incr/Decr: delta (64 bits in two words)
  kNumberHigh = 9,
  kRequestWords = 10,
};
constexpr uint32_t kCodeMask = 0xff;
constexpr uint32_t kWantCas = 1u << 8;
constexpr uint32_t kMulti = 1u << 9;
constexpr uint32_t kInObjects = 0xffffffffu;

// A completion record is kRecordWords uint32 words. A single-key (or key-less) operation is one
// record; a multi-key one is a record whose value-length word is kMultiRecord and whose flags
// word is its item count, followed by one item record per key, in key order.
enum RecordWord : uint32_t {
  kRecordId = 0,
  kRecordRc = 1,           // memcached_return_t
  kRecordFlags = 2,        // (multi-key: the item count)
  kRecordValueLength = 3,  // bytes in the slab, kNoValue, kValueInExtras (or kMultiRecord)
  kRecordWords = 4,
};
enum ItemWord : uint32_t {
  kItemRc = 0,
  kItemFlags = 1,
  kItemValueLength = 2,
  kItemUnused = 3,
};
constexpr uint32_t kNoValue = 0xffffffffu;
constexpr uint32_t kValueInExtras = 0xfffffffeu;
constexpr uint32_t kMultiRecord = 0xfffffffdu;

// A delivery's extras array holds, operation after operation, whichever of these apply, in
// this order: per item (in key order), kItemExtras; then per operation, kOperationExtras.
enum class Extra : uint8_t {
  Value,         // the value as a Buffer of its own, when its length word is kValueInExtras
  CasToken,      // a BigInt: the operation asked for CAS tokens and the key was found
  CounterValue,  // a single-key Incr/Decr that succeeded: a number, or a BigInt beyond 2^53 - 1
  Stats,         // Stats/GetBehaviors answered: [[server, [key, value, ...]], ...]
  ErrorMessage,  // the return code is a failure (not IsSoftResult): libmemcached's message
  ErrorServer,   // and then the "host:port" involved, or undefined
};
constexpr Extra kItemExtras[] = {Extra::Value, Extra::CasToken};
constexpr Extra kOperationExtras[] = {Extra::CounterValue, Extra::Stats, Extra::ErrorMessage, Extra::ErrorServer};

// Every name above with its value, and the extras orders as lists of names.
Napi::Object Protocol(Napi::Env env);

}  // namespace protocol
}  // namespace lmc
