// The JS-facing native client: copies requests into Operations, hands them to the Engine, and
// delivers completions back to JavaScript in batches, one call per wake-up.
//
// Lifetime: while operations are in flight the completion callback is held strongly (so the
// client cannot be collected and the process stays alive); when idle it is held weakly and the
// threadsafe function is unref'd, so an idle client neither pins memory nor keeps the process
// alive. An env cleanup hook stops the threads when a worker or the process exits.
#pragma once

#include <napi.h>

#include <memory>

#include "core/engine.h"

namespace lmc {

class Client : public Napi::ObjectWrap<Client> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Client(const Napi::CallbackInfo& info);
  ~Client() override;

 private:
  struct WakeTarget {
    Client* client;
  };

  static napi_value SubmitCallback(napi_env env, napi_callback_info info);
  napi_value Submit(napi_env env, napi_value* argv);
  Napi::Value Hash(const Napi::CallbackInfo& info);
  Napi::Value SetBehaviors(const Napi::CallbackInfo& info);
  Napi::Value IoThreads(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  void Deliver(napi_env env);
  void Settled(napi_env env, size_t count);
  void Abandon(napi_env env, std::vector<Operation*>& done);

  // A delivery buffer kept for the next delivery (see Deliver).
  struct ReusableBuffer {
    napi_ref ref = nullptr;
    void* data = nullptr;
    size_t capacity = 0;
    void Drop(napi_env env);
  };
  static napi_value Reusable(napi_env env, ReusableBuffer& kept, size_t size, size_t keep_max, bool words);
  Operation* NewOperation();
  void Retire(Operation* op);

  struct Recycler {
    Client* client;
    Operation* op;
    ~Recycler() { client->Retire(op); }
  };
  void Release(bool from_cleanup_hook = false);

  static void CallJs(napi_env env, napi_value, void* context, void*);
  static void FinalizeWakeTarget(napi_env, void* data, void*);
  static void OnEnvCleanup(void* data);

  std::unique_ptr<Engine> engine_;
  napi_threadsafe_function tsfn_ = nullptr;
  WakeTarget* wake_target_ = nullptr;
  Napi::FunctionReference on_complete_;
  std::vector<Operation*> submit_batch_;  // Submit's scratch space
  std::vector<Operation*> free_operations_;
  size_t retained_bytes_ = 0;  // the free operations' item storage (see Retire)
  ReusableBuffer meta_;
  ReusableBuffer slab_;
  // The flags of plain text under the default deserializer, which a large value is delivered
  // as a string for (the codec's FLAG_TEXT, passed as config.textFlags); -1: none.
  int64_t text_flags_ = -1;
  uint32_t in_flight_ = 0;
  bool released_ = false;
};

}  // namespace lmc
