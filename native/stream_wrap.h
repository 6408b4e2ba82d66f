// Stream: the JavaScript object of one running stream. While the stream runs it keeps itself, its dispatch
// function and its device's JavaScript object alive (and the event loop), whatever JavaScript drops.
// The engine tells it of completions through a StreamObserver (stream_wrap.cc) that posts to this thread; one
// dispatch(count) call hands JavaScript every completion that is ready, listed in the block's batch array.
#pragma once

#include <napi.h>

#include <memory>
#include <optional>

#include "iso_scan.h"
#include "stream.h"

namespace uvc {

class StreamEvents;  // its observer (in the .cc)

class StreamWrap : public Napi::ObjectWrap<StreamWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<StreamState> state, Napi::Function dispatch,
                                  Napi::Object device);

  explicit StreamWrap(const Napi::CallbackInfo& info);
  ~StreamWrap() override;

  // JavaScript thread, from the observer's messages.
  void DeliverReady(Napi::Env env);
  void OnDrained(Napi::Env env);

 private:
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value ReleaseList(const Napi::CallbackInfo& info);  // releaseList(count): the first count slots of `releases`
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  // scanSlots(slots, counts, memory, block): the frame assembler's iso scan over a run of this stream's slots
  // (iso_scan.cc), read in the stream's own memory: no view crosses N-API per transfer.
  Napi::Value ScanSlots(const Napi::CallbackInfo& info);

  std::shared_ptr<StreamState> state_;
  uvc::ScanSlots scan_slots_;  // the slots' memory as the scan reads it (co-owns the block)
  std::shared_ptr<StreamEvents> events_;
  Napi::FunctionReference dispatch_;
  Napi::ObjectReference device_;
  std::optional<Napi::Promise::Deferred> stop_;
  bool drained_ = false;
};

}  // namespace uvc
