// Exports the batch format of src/protocol.h by name, for the contract test of its mirror.
#include "protocol.h"

namespace lmc {
namespace protocol {
namespace {

const char* NameOf(Extra extra) {
  switch (extra) {
    case Extra::Value: return "value";
    case Extra::CasToken: return "casToken";
    case Extra::CounterValue: return "counterValue";
    case Extra::Stats: return "stats";
    case Extra::ErrorMessage: return "errorMessage";
    case Extra::ErrorServer: return "errorServer";
  }
  return "?";
}

template <size_t N>
Napi::Array Names(Napi::Env env, const Extra (&order)[N]) {
  Napi::Array names = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; i++) names.Set(static_cast<uint32_t>(i), NameOf(order[i]));
  return names;
}

}  // namespace

Napi::Object Protocol(Napi::Env env) {
  Napi::Object opCodes = Napi::Object::New(env);
#define LMC_OP(name) opCodes.Set(#name, static_cast<uint32_t>(OpCode::name))
  LMC_OP(Get);
  LMC_OP(Set);
  LMC_OP(Add);
  LMC_OP(Replace);
  LMC_OP(Append);
  LMC_OP(Prepend);
  LMC_OP(Cas);
  LMC_OP(Delete);
  LMC_OP(Incr);
  LMC_OP(Decr);
  LMC_OP(Touch);
  LMC_OP(FlushAll);
  LMC_OP(Stats);
  LMC_OP(Disconnect);
  LMC_OP(Close);
  LMC_OP(GetBehaviors);
  LMC_OP(SetBehaviors);
#undef LMC_OP
  static_assert(kOpCodeCount == 17, "a new OpCode is exported here too");

  Napi::Object request = Napi::Object::New(env);
  request.Set("Code", static_cast<uint32_t>(kCode));
  request.Set("Id", static_cast<uint32_t>(kId));
  request.Set("KeyOffset", static_cast<uint32_t>(kKeyOffset));
  request.Set("KeyLength", static_cast<uint32_t>(kKeyLength));
  request.Set("ValueOffset", static_cast<uint32_t>(kValueOffset));
  request.Set("ValueLength", static_cast<uint32_t>(kValueLength));
  request.Set("Flags", static_cast<uint32_t>(kFlags));
  request.Set("Exptime", static_cast<uint32_t>(kExptime));
  request.Set("NumberLow", static_cast<uint32_t>(kNumberLow));
  request.Set("NumberHigh", static_cast<uint32_t>(kNumberHigh));

  Napi::Object record = Napi::Object::New(env);
  record.Set("Id", static_cast<uint32_t>(kRecordId));
  record.Set("Rc", static_cast<uint32_t>(kRecordRc));
  record.Set("Flags", static_cast<uint32_t>(kRecordFlags));
  record.Set("ValueLength", static_cast<uint32_t>(kRecordValueLength));

  Napi::Object item = Napi::Object::New(env);
  item.Set("Rc", static_cast<uint32_t>(kItemRc));
  item.Set("Flags", static_cast<uint32_t>(kItemFlags));
  item.Set("ValueLength", static_cast<uint32_t>(kItemValueLength));
  item.Set("Unused", static_cast<uint32_t>(kItemUnused));

  Napi::Object out = Napi::Object::New(env);
  out.Set("opCodes", opCodes);
  out.Set("request", request);
  out.Set("requestWords", static_cast<uint32_t>(kRequestWords));
  out.Set("codeMask", kCodeMask);
  out.Set("wantCas", kWantCas);
  out.Set("multi", kMulti);
  out.Set("inObjects", kInObjects);
  out.Set("record", record);
  out.Set("item", item);
  out.Set("recordWords", static_cast<uint32_t>(kRecordWords));
  out.Set("noValue", kNoValue);
  out.Set("valueInExtras", kValueInExtras);
  out.Set("multiRecord", kMultiRecord);
  out.Set("itemExtras", Names(env, kItemExtras));
  out.Set("operationExtras", Names(env, kOperationExtras));
  return out;
}

}  // namespace protocol
}  // namespace lmc
