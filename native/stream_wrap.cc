#include "stream_wrap.h"

#include "addon_data.h"
#include "errors.h"

namespace uvc {

namespace {

struct PendingStream {
  std::shared_ptr<StreamState> state;
  Napi::Function dispatch;
  Napi::Object device;
};
thread_local PendingStream* pending_stream = nullptr;

void FreeBlockRef(Napi::Env, void*, std::shared_ptr<Block>* ref) { delete ref; }

}  // namespace

Napi::Function StreamWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<StreamWrap>::DefineClass(env, "Stream",
                                             {
                                                 InstanceMethod<&StreamWrap::Release>("release"),
                                                 InstanceMethod<&StreamWrap::Stop>("stop"),
                                                 InstanceMethod<&StreamWrap::Stats>("stats"),
                                             });
}

Napi::Object StreamWrap::NewInstance(Napi::Env env, std::shared_ptr<StreamState> state, Napi::Function dispatch,
                                     Napi::Object device) {
  PendingStream pending{std::move(state), dispatch, device};
  pending_stream = &pending;
  Napi::Object object;
  try {
    object = GetAddonData(env)->stream_class.New({});
  } catch (...) {
    pending_stream = nullptr;
    throw;
  }
  pending_stream = nullptr;
  return object;
}

StreamWrap::StreamWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StreamWrap>(info) {
  Napi::Env env = info.Env();
  if (pending_stream == nullptr) ThrowError(env, "EINVAL", "Stream objects come from Device.startStream(), not from new");
  PendingStream& pending = *pending_stream;
  pending_stream = nullptr;
  state_ = pending.state;
  dispatch_ = Napi::Persistent(pending.dispatch);
  device_ = Napi::Persistent(pending.device);
  state_->wrap = this;
  Ref();  // strong until drained
  GetAddonData(env)->bridge->Hold();

  // The views, made once: one external ArrayBuffer over the stream's block, which it co-owns.
  const StreamConfig& config = state_->config();
  const std::shared_ptr<Block>& block = state_->block();
  Napi::ArrayBuffer memory =
      Napi::ArrayBuffer::New(env, block->data, block->size, FreeBlockRef, new std::shared_ptr<Block>(block));
  Napi::Array slots = Napi::Array::New(env, config.transfers);
  for (int i = 0; i < config.transfers; i++) {
    Napi::Object slot = Napi::Object::New(env);
    slot.Set("buffer", Napi::Uint8Array::New(env, config.data_bytes(), memory, state_->data_offset(i)));
    if (config.iso()) {
      slot.Set("packetStatus", Napi::Int32Array::New(env, config.packets, memory, state_->status_offset(i)));
      slot.Set("packetLength", Napi::Int32Array::New(env, config.packets, memory, state_->length_offset(i)));
    } else {
      slot.Set("packetStatus", Napi::Int32Array::New(env, 0));
      slot.Set("packetLength", Napi::Int32Array::New(env, 0));
    }
    slots.Set(i, slot);
  }
  info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value("slots", slots, napi_enumerable));
  info.This().As<Napi::Object>().DefineProperty(
      Napi::PropertyDescriptor::Value("intervalNs", Napi::Number::New(env, static_cast<double>(config.interval_ns)),
                                      napi_enumerable));
}

StreamWrap::~StreamWrap() {
  if (state_) state_->wrap = nullptr;
}

void StreamWrap::Dispatch(Napi::Env env, const Completion& c) {
  if (dispatch_.IsEmpty()) return;
  dispatch_.Call({
      Napi::Number::New(env, c.slot),
      Napi::Number::New(env, c.status),
      Napi::Number::New(env, c.actual_length),
      Napi::Number::New(env, c.packet_count),
      Napi::Number::New(env, c.lost_intervals),
      Napi::Number::New(env, c.completed_at_ns),
      Napi::Number::New(env, c.sequence),
  });
}

void StreamWrap::OnDrained(Napi::Env env) {
  if (drained_) return;
  drained_ = true;
  dispatch_.Reset();
  device_.Reset();
  GetAddonData(env)->bridge->Unhold();
  Unref();
  if (stop_) stop_->Resolve(env.Undefined());
}

Napi::Value StreamWrap::Release(const Napi::CallbackInfo& info) {
  int slot = IntegerArg(info, 0, "slot", 0, state_->config().transfers - 1);
  state_->Release(slot);
  return info.Env().Undefined();
}

Napi::Value StreamWrap::Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (drained_) {
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  if (!stop_) stop_.emplace(Napi::Promise::Deferred::New(env));
  state_->BeginStop();
  return stop_->Promise();
}

Napi::Value StreamWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StreamStats stats = state_->Stats();
  Napi::Object result = Napi::Object::New(env);
  result.Set("completed", stats.completed);
  result.Set("inFlight", stats.in_flight);
  result.Set("held", stats.held);
  result.Set("lostIntervals", stats.lost_intervals);
  return result;
}

}  // namespace uvc
