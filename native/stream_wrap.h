// Stream: the JavaScript object of one running stream. While the stream runs it keeps itself, its dispatch
// function and its device's JavaScript object alive (and the event loop), whatever JavaScript drops.
#pragma once

#include <napi.h>

#include <memory>
#include <optional>

#include "stream.h"

namespace uvc {

class StreamWrap : public Napi::ObjectWrap<StreamWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<StreamState> state, Napi::Function dispatch,
                                  Napi::Object device);

  explicit StreamWrap(const Napi::CallbackInfo& info);
  ~StreamWrap() override;

  void Dispatch(Napi::Env env, const Completion& completion);
  void OnDrained(Napi::Env env);

 private:
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  std::shared_ptr<StreamState> state_;
  Napi::FunctionReference dispatch_;
  Napi::ObjectReference device_;
  std::optional<Napi::Promise::Deferred> stop_;
  bool drained_ = false;
};

}  // namespace uvc
