#include "stream_wrap.h"

#include "addon_data.h"
#include "bridge.h"
#include "errors.h"

namespace uvc {

// The engine's observer: posts to the JavaScript thread, where the wrap (if it still exists) takes over. Holds no
// reference to the StreamState (which owns it).
class StreamEvents : public StreamObserver, public std::enable_shared_from_this<StreamEvents> {
 public:
  explicit StreamEvents(std::shared_ptr<EnvBridge> bridge) : bridge_(std::move(bridge)) {}
  void CompletionsReady() override { Post(false); }
  void Drained() override { Post(true); }
  StreamWrap* wrap = nullptr;  // JavaScript thread only
  void Post(bool drained) { bridge_->Post(std::make_unique<Notice>(shared_from_this(), drained)); }

 private:
  class Notice : public Message {
   public:
    Notice(std::shared_ptr<StreamEvents> events, bool drained) : events_(std::move(events)), drained_(drained) {}
    void Deliver(Napi::Env env) override {
      StreamWrap* wrap = events_->wrap;
      if (wrap == nullptr) return;
      if (drained_) {
        wrap->OnDrained(env);
      } else {
        wrap->DeliverReady(env);
      }
    }

   private:
    std::shared_ptr<StreamEvents> events_;
    bool drained_;
  };
  std::shared_ptr<EnvBridge> bridge_;
};

namespace {

// Completions per call into JavaScript (the rest after other work of the event loop, so that a backlog after a
// stall does not starve timers and promises): WakeOn::kTransfer, 8; kUvcFrame, one frame's (TakeReady stops at
// its edge), at most 32 (a 720p YUYV frame is 19 transfers of 32 × 3072 bytes).
constexpr int kMaxBatch = 8;
constexpr int kMaxFrameBatch = 32;

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
                                                 InstanceMethod<&StreamWrap::ReleaseList>("releaseList"),
                                                 InstanceMethod<&StreamWrap::Stop>("stop"),
                                                 InstanceMethod<&StreamWrap::Stats>("stats"),
                                                 InstanceMethod<&StreamWrap::ScanSlots>("scanSlots"),
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
  events_ = std::make_shared<StreamEvents>(GetAddonData(env)->bridge);
  events_->wrap = this;
  state_->SetObserver(events_);
  Ref();  // strong until drained
  GetAddonData(env)->bridge->Hold();

  // The views, made once: one external ArrayBuffer over the stream's block, which it co-owns (and with zero copy,
  // one over each slot's usbfs buffer, each co-owning the block, which unmaps them).
  const StreamConfig& config = state_->config();
  const std::shared_ptr<Block>& block = state_->block();
  Napi::ArrayBuffer memory =
      Napi::ArrayBuffer::New(env, block->data, block->size, FreeBlockRef, new std::shared_ptr<Block>(block));
  int count = config.slots();
  Napi::Array slots = Napi::Array::New(env, count);
  // Bulk streams have no packets: every scanSlots call is refused (no slot).
  scan_slots_.owner = block;
  scan_slots_.data_bytes = config.data_bytes();
  scan_slots_.packets = config.iso() ? static_cast<size_t>(config.packets) : 0;
  for (int i = 0; i < count; i++) {
    Napi::Object slot = Napi::Object::New(env);
    slot.Set("record", Napi::Float64Array::New(env, kRecordFields, memory, state_->record_offset(i)));
    if (!state_->zero_copy_slot(i)) {
      slot.Set("buffer", Napi::Uint8Array::New(env, config.data_bytes(), memory, state_->data_offset(i)));
    } else {
      Napi::ArrayBuffer own = Napi::ArrayBuffer::New(env, block->mapped[i], block->mapped_size, FreeBlockRef,
                                                     new std::shared_ptr<Block>(block));
      slot.Set("buffer", Napi::Uint8Array::New(env, config.data_bytes(), own, 0));
    }
    if (config.iso()) {
      slot.Set("packetStatus", Napi::Int32Array::New(env, config.packets, memory, state_->status_offset(i)));
      slot.Set("packetLength", Napi::Int32Array::New(env, config.packets, memory, state_->length_offset(i)));
      scan_slots_.data.push_back(state_->slot_data(i));
      scan_slots_.statuses.push_back(reinterpret_cast<const int32_t*>(block->data + state_->status_offset(i)));
      scan_slots_.lengths.push_back(reinterpret_cast<const int32_t*>(block->data + state_->length_offset(i)));
    } else {
      slot.Set("packetStatus", Napi::Int32Array::New(env, 0));
      slot.Set("packetLength", Napi::Int32Array::New(env, 0));
    }
    slots.Set(i, slot);
  }
  info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value("slots", slots, napi_enumerable));
  info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value(
      "batch", Napi::Int32Array::New(env, count, memory, state_->batch_offset()), napi_enumerable));
  info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value(
      "releases", Napi::Int32Array::New(env, count, memory, state_->release_list_offset()), napi_enumerable));
  info.This().As<Napi::Object>().DefineProperty(
      Napi::PropertyDescriptor::Value("intervalNs", Napi::Number::New(env, static_cast<double>(config.interval_ns)),
                                      napi_enumerable));
}

StreamWrap::~StreamWrap() {
  if (events_) events_->wrap = nullptr;
}

void StreamWrap::DeliverReady(Napi::Env env) {
  if (dispatch_.IsEmpty()) return;
  bool more = false;
  int count = state_->TakeReady(state_->config().wake_on == WakeOn::kUvcFrame ? kMaxFrameBatch : kMaxBatch, &more);
  // The rest after other work of the event loop (a backlog after a stall must not starve timers and promises).
  if (more) events_->Post(false);
  if (count == 0) return;
  // One call into JavaScript for the batch: the records and the batch list are in the block already.
  dispatch_.Call({Napi::Number::New(env, count)});
}

void StreamWrap::OnDrained(Napi::Env env) {
  if (drained_) return;
  drained_ = true;
  dispatch_.Reset();
  state_->ReleaseMappings();  // nothing more is dispatched: the slots' usbfs memory can go back now
  device_.Reset();
  GetAddonData(env)->bridge->Unhold();
  Unref();
  if (stop_) stop_->Resolve(env.Undefined());
}

Napi::Value StreamWrap::Release(const Napi::CallbackInfo& info) {
  int slot = IntegerArg(info, 0, "slot", 0, state_->config().slots() - 1);
  state_->Release(slot);
  return info.Env().Undefined();
}

Napi::Value StreamWrap::ReleaseList(const Napi::CallbackInfo& info) {
  int count = IntegerArg(info, 0, "count", 0, state_->config().slots());
  state_->ReleaseList(count);
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

Napi::Value StreamWrap::ScanSlots(const Napi::CallbackInfo& info) { return IsoScanSlots(info, scan_slots_); }

Napi::Value StreamWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StreamStats stats = state_->Stats();
  Napi::Object result = Napi::Object::New(env);
  result.Set("completed", stats.completed);
  result.Set("inFlight", stats.in_flight);
  result.Set("held", stats.held);
  result.Set("lostIntervals", stats.lost_intervals);
  result.Set("sparesFree", stats.spares_free);
  result.Set("sparesLow", stats.spares_low);
  result.Set("starved", stats.starved);
  result.Set("failures", stats.failures);
  result.Set("goneDeferred", stats.gone_deferred);
  result.Set("notices", stats.notices);
  result.Set("zeroCopy", stats.zero_copy);
  result.Set("zeroCopySlots", stats.zero_copy_slots);
  result.Set("copied", stats.copied);
  return result;
}

}  // namespace uvc
