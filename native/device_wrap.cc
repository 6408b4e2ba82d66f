#include "device_wrap.h"

#include <cstdio>
#include <functional>

#include "addon_data.h"
#include "bridge.h"
#include "control.h"
#include "errors.h"
#include "stream.h"
#include "stream_wrap.h"

namespace uvc {

// The device's observer: posts the disconnect to the JavaScript thread, where the wrap (if it still exists) calls
// this.ondisconnect(). Holds no reference to the device (which owns it).
class DeviceEvents : public DeviceObserver, public std::enable_shared_from_this<DeviceEvents> {
 public:
  explicit DeviceEvents(std::shared_ptr<EnvBridge> bridge) : bridge_(std::move(bridge)) {}
  void Disconnected() override { bridge_->Post(std::make_unique<Notice>(shared_from_this())); }
  DeviceWrap* wrap = nullptr;  // JavaScript thread only

 private:
  class Notice : public Message {
   public:
    explicit Notice(std::shared_ptr<DeviceEvents> events) : events_(std::move(events)) {}
    void Deliver(Napi::Env env) override {
      if (events_->wrap != nullptr) events_->wrap->EmitDisconnect(env);
    }

   private:
    std::shared_ptr<DeviceEvents> events_;
  };
  std::shared_ptr<EnvBridge> bridge_;
};

namespace {

// Transfer memory one stream may pin: MAX_STREAM_BYTES of the transport contract (src/transport/usb-transport.ts).
// Linux caps all usbfs transfers in flight at usbfs_memory_mb (16 MB by default) for every device and program
// together, so one stream stays well under it.
constexpr int64_t kMaxStreamBytes = 8 * 1024 * 1024;
// Memory of the spare transfers one stream may hold: MAX_SPARE_BYTES of the contract. Plain process memory (not
// pinned by usbfs until submitted, and then in place of a completed one), bounded so a stall budget stays sane.
constexpr int64_t kMaxSpareBytes = 64 * 1024 * 1024;
constexpr int kMaxTransfers = 64;
constexpr int kMaxSpares = 4096;
constexpr int kMaxIsoPackets = 128;         // usbfs: packets per URB
constexpr int kMaxIsoPacketSize = 98304;    // usbfs: SuperSpeedPlus bytes per interval
constexpr auto kCloseDrain = std::chrono::milliseconds(5000);

thread_local std::shared_ptr<DeviceState>* pending_device = nullptr;


// A blocking operation on the thread pool, settling a promise with undefined or an error.
class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, std::function<OpResult()> op)
      : Napi::AsyncWorker(env, "uvc-capture:usb"), deferred_(Napi::Promise::Deferred::New(env)), op_(std::move(op)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override { result_ = op_(); }
  void OnOK() override {
    if (result_.ok()) {
      deferred_.Resolve(Env().Undefined());
    } else {
      deferred_.Reject(ErrorOf(Env(), result_).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<OpResult()> op_;
  OpResult result_;
};

Napi::Value Queue(Napi::Env env, std::function<OpResult()> op) {
  auto* worker = new OpWorker(env, std::move(op));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, OpenTarget target)
      : Napi::AsyncWorker(env, "uvc-capture:open"),
        deferred_(Napi::Promise::Deferred::New(env)),
        target_(std::move(target)),
        bridge_(GetAddonData(env)->bridge) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override { result_ = DeviceState::Open(target_, bridge_, &state_); }
  void OnOK() override {
    if (!result_.ok()) {
      deferred_.Reject(ErrorOf(Env(), result_).Value());
      return;
    }
    deferred_.Resolve(DeviceWrap::NewInstance(Env(), state_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  OpenTarget target_;
  std::shared_ptr<EnvBridge> bridge_;
  std::shared_ptr<DeviceState> state_;
  OpResult result_;
};

const char* SpeedName(int speed) {
  switch (speed) {
    case LIBUSB_SPEED_LOW: return "low";
    case LIBUSB_SPEED_FULL: return "full";
    case LIBUSB_SPEED_HIGH: return "high";
    case LIBUSB_SPEED_SUPER: return "super";
    case LIBUSB_SPEED_SUPER_PLUS: return "super-plus";
    default: return speed > LIBUSB_SPEED_SUPER_PLUS ? "super-plus" : "unknown";
  }
}

std::string Hex2(int value) {
  char buf[8];
  snprintf(buf, sizeof buf, "0x%02x", value);
  return buf;
}

}  // namespace

Napi::Function DeviceWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<DeviceWrap>::DefineClass(
      env, "Device",
      {
          InstanceMethod<&DeviceWrap::ControlTransfer>("controlTransfer"),
          InstanceMethod<&DeviceWrap::ClaimInterface>("claimInterface"),
          InstanceMethod<&DeviceWrap::ReleaseInterface>("releaseInterface"),
          InstanceMethod<&DeviceWrap::SetAltSetting>("setAltSetting"),
          InstanceMethod<&DeviceWrap::ClearHalt>("clearHalt"),
          InstanceMethod<&DeviceWrap::StartStream>("startStream"),
          InstanceMethod<&DeviceWrap::Close>("close"),
          InstanceAccessor<&DeviceWrap::GetState>("state"),
          InstanceAccessor<&DeviceWrap::IsGone>("gone"),
      });
}

Napi::Object DeviceWrap::NewInstance(Napi::Env env, std::shared_ptr<DeviceState> state) {
  pending_device = &state;
  Napi::Object object;
  try {
    object = GetAddonData(env)->device_class.New({});
  } catch (...) {
    pending_device = nullptr;
    throw;
  }
  pending_device = nullptr;
  return object;
}

DeviceWrap::DeviceWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceWrap>(info) {
  Napi::Env env = info.Env();
  if (pending_device == nullptr) ThrowError(env, "EINVAL", "Device objects come from openDevice(), not from new");
  state_ = *pending_device;
  pending_device = nullptr;
  events_ = std::make_shared<DeviceEvents>(GetAddonData(env)->bridge);
  events_->wrap = this;
  state_->SetObserver(events_);

  const DeviceIdentity& id = state_->identity();
  Napi::Object description = Napi::Object::New(env);
  description.Set("busNumber", id.bus);
  description.Set("deviceAddress", id.address);
  description.Set("portPath", id.port_path);
  description.Set("vendorId", id.vendor_id);
  description.Set("productId", id.product_id);
  description.Set("speed", SpeedName(id.speed));
  Napi::Uint8Array descriptor = Napi::Uint8Array::New(env, id.device_descriptor.size());
  std::copy(id.device_descriptor.begin(), id.device_descriptor.end(), descriptor.Data());
  description.Set("deviceDescriptor", descriptor);
  description.Set("activeConfigValue", id.active_config_value);
  description.Set("activeConfigIndex", id.active_config_index);
  info.This().As<Napi::Object>().DefineProperty(
      Napi::PropertyDescriptor::Value("info", description, napi_enumerable));
}

DeviceWrap::~DeviceWrap() {
  if (events_) events_->wrap = nullptr;
  if (!state_) return;
  // Collected without close(): close it off this thread (releasing interfaces may wait for a kernel driver).
  if (state_->state() != DeviceState::State::kClosed) state_->CloseLater();
}

void DeviceWrap::EmitDisconnect(Napi::Env env) {
  Napi::Object self = Value();
  if (self.IsEmpty()) return;
  Napi::Value listener = self.Get("ondisconnect");
  if (listener.IsFunction()) listener.As<Napi::Function>().Call(self, {});
}

Napi::Value DeviceWrap::ControlTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ControlRequest request;
  request.bm_request_type = IntegerArg(info, 0, "bmRequestType", 0, 0xff);
  request.b_request = IntegerArg(info, 1, "bRequest", 0, 0xff);
  request.w_value = IntegerArg(info, 2, "wValue", 0, 0xffff);
  request.w_index = IntegerArg(info, 3, "wIndex", 0, 0xffff);
  if (request.bm_request_type & LIBUSB_ENDPOINT_IN) {
    request.length = IntegerArg(info, 4, "length", 0, 0xffff);
  } else {
    if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowError(env, "EINVAL", "data of an OUT control transfer must be a Uint8Array");
    }
    Napi::Uint8Array data = info[4].As<Napi::Uint8Array>();
    if (data.ByteLength() > 0xffff) ThrowError(env, "EINVAL", "data of a control transfer is at most 65535 bytes");
    request.length = static_cast<int>(data.ByteLength());
    request.data.assign(data.Data(), data.Data() + data.ByteLength());
  }
  request.timeout_ms = static_cast<unsigned int>(IntegerArg(info, 5, "timeoutMs", 0, 0x7fffffff));
  return ControlOp::Submit(env, state_, request);
}

Napi::Value DeviceWrap::ClaimInterface(const Napi::CallbackInfo& info) {
  int number = IntegerArg(info, 0, "interfaceNumber", 0, 31);
  auto state = state_;
  return Queue(info.Env(), [state, number] { return state->ClaimInterface(number); });
}

Napi::Value DeviceWrap::ReleaseInterface(const Napi::CallbackInfo& info) {
  int number = IntegerArg(info, 0, "interfaceNumber", 0, 31);
  auto state = state_;
  return Queue(info.Env(), [state, number] { return state->ReleaseInterface(number); });
}

Napi::Value DeviceWrap::SetAltSetting(const Napi::CallbackInfo& info) {
  int number = IntegerArg(info, 0, "interfaceNumber", 0, 31);
  int alt = IntegerArg(info, 1, "altSetting", 0, 255);
  auto state = state_;
  return Queue(info.Env(), [state, number, alt] { return state->SetAltSetting(number, alt); });
}

Napi::Value DeviceWrap::ClearHalt(const Napi::CallbackInfo& info) {
  int endpoint = IntegerArg(info, 0, "endpoint", 0, 0xff);
  if ((endpoint & 0x0f) == 0 || (endpoint & 0x70) != 0) {
    ThrowError(info.Env(), "EINVAL", "endpoint " + Hex2(endpoint) + " is not a data endpoint address");
  }
  auto state = state_;
  return Queue(info.Env(), [state, endpoint] { return state->ClearHalt(endpoint); });
}

Napi::Value DeviceWrap::StartStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowError(env, "EINVAL", "stream options must be an object");
  if (!info[1].IsFunction()) ThrowError(env, "EINVAL", "the stream needs a dispatch function");
  Napi::Object options = info[0].As<Napi::Object>();

  StreamConfig config;
  config.endpoint = IntegerProp(options, "endpoint", 0, 0xff, 0, true);
  if ((config.endpoint & 0x80) == 0 || (config.endpoint & 0x0f) == 0 || (config.endpoint & 0x70) != 0) {
    ThrowError(env, "EINVAL", "endpoint " + Hex2(config.endpoint) + " is not an IN data endpoint (0x81 to 0x8f)");
  }
  Napi::Value type = options.Get("type");
  std::string type_name = type.IsString() ? type.As<Napi::String>().Utf8Value() : "";
  int expected;
  if (type_name == "iso") {
    config.transfer_type = LIBUSB_TRANSFER_TYPE_ISOCHRONOUS;
    expected = LIBUSB_ENDPOINT_TRANSFER_TYPE_ISOCHRONOUS;
  } else if (type_name == "bulk") {
    config.transfer_type = LIBUSB_TRANSFER_TYPE_BULK;
    expected = LIBUSB_ENDPOINT_TRANSFER_TYPE_BULK;
  } else if (type_name == "interrupt") {
    config.transfer_type = LIBUSB_TRANSFER_TYPE_INTERRUPT;
    expected = LIBUSB_ENDPOINT_TRANSFER_TYPE_INTERRUPT;
  } else {
    ThrowError(env, "EINVAL", "stream type must be 'iso', 'bulk' or 'interrupt'");
  }
  config.transfers = IntegerProp(options, "transfers", 1, kMaxTransfers, 0, true);
  if (config.iso()) {
    config.packets = IntegerProp(options, "packetsPerTransfer", 1, kMaxIsoPackets, 0, true);
    config.packet_size = IntegerProp(options, "packetSize", 1, kMaxIsoPacketSize, 0, true);
  } else {
    config.transfer_size = IntegerProp(options, "transferSize", 1, kMaxStreamBytes, 0, true);
    config.timeout_ms = static_cast<unsigned int>(IntegerProp(options, "timeoutMs", 0, 0x7fffffff, 0, false));
  }
  config.spares = IntegerProp(options, "spareTransfers", 0, kMaxSpares, 0, false);
  Napi::Value wake_on = options.Get("wakeOn");
  std::string wake_name = wake_on.IsString() ? wake_on.As<Napi::String>().Utf8Value() : "";
  if (wake_on.IsUndefined() || wake_name == "transfer") {
    config.wake_on = WakeOn::kTransfer;
  } else if (wake_name == "uvc-frame") {
    config.wake_on = WakeOn::kUvcFrame;
  } else {
    ThrowError(env, "EINVAL", "wakeOn must be 'transfer' or 'uvc-frame'");
  }
  config.wake_after_ns = int64_t{1000000} * IntegerProp(options, "wakeAfterMs", 1, 1000, 20, false);
  config.zero_copy_slots = IntegerProp(options, "zeroCopyTransfers", 0, config.slots(), config.slots(), false);
  int64_t total = static_cast<int64_t>(config.data_bytes()) * config.transfers;
  if (total > kMaxStreamBytes) {
    ThrowError(env, "EINVAL",
               "the stream would pin " + std::to_string(total) + " bytes of transfer memory; the limit is " +
                   std::to_string(kMaxStreamBytes) + " (Linux allows 16 MB for all USB transfers in flight)");
  }
  int64_t spare = static_cast<int64_t>(config.data_bytes()) * config.spares;
  if (spare > kMaxSpareBytes) {
    ThrowError(env, "EINVAL",
               "the stream's spare transfers would hold " + std::to_string(spare) + " bytes; the limit is " +
                   std::to_string(kMaxSpareBytes));
  }

  if (const char* code = state_->Unusable()) {
    ThrowError(env, code, code[1] == 'B' ? "cannot start a stream: the device was closed"
                                         : "cannot start a stream: the device is gone (unplugged)");
  }
  EndpointInfo endpoint;
  OpResult found = state_->FindEndpoint(config.endpoint, &endpoint);
  if (!found.ok()) throw ErrorOf(env, found);
  if (endpoint.transfer_type != expected) {
    static const char* names[] = {"control", "iso", "bulk", "interrupt"};
    ThrowError(env, "EINVAL", "endpoint " + Hex2(config.endpoint) + " is " + names[endpoint.transfer_type & 3] +
                                  ", not " + type_name);
  }
  config.interface_number = endpoint.interface_number;
  config.interval_ns = endpoint.interval_ns;

  auto stream = std::make_shared<StreamState>(state_, config);
  if (!stream->Allocate()) ThrowError(env, "ENOMEM", "cannot allocate the stream's transfers");
  OpResult added = state_->AddStream(stream, config.endpoint, config.interface_number);
  if (!added.ok()) throw ErrorOf(env, added);
  // The wrap exists before the first submit, so that even a failed start drains through it.
  Napi::Object object;
  try {
    object = StreamWrap::NewInstance(env, stream, info[1].As<Napi::Function>(), Value());
  } catch (...) {
    stream->BeginStop();  // nothing in flight: drains (and frees the endpoint) at once
    throw;
  }
  OpResult started = stream->Start();
  if (!started.ok()) throw ErrorOf(env, started);
  return object;
}

Napi::Value DeviceWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_->state() == DeviceState::State::kClosed) {
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  state_->MarkClosing();
  auto state = state_;
  return Queue(env, [state] {
    state->CloseBlocking(kCloseDrain);
    return OpResult::Ok();
  });
}

Napi::Value DeviceWrap::GetState(const Napi::CallbackInfo& info) {
  switch (state_->state()) {
    case DeviceState::State::kOpen: return Napi::String::New(info.Env(), "open");
    case DeviceState::State::kClosing: return Napi::String::New(info.Env(), "closing");
    default: return Napi::String::New(info.Env(), "closed");
  }
}

Napi::Value DeviceWrap::IsGone(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_->gone());
}

Napi::Value OpenDevice(const Napi::CallbackInfo& info) {
  OpenTarget target;
  target.bus = IntegerArg(info, 0, "busNumber", 1, 255);
  target.address = IntegerArg(info, 1, "deviceAddress", 1, 127);
  auto* worker = new OpenWorker(info.Env(), target);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value OpenDeviceByPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpenTarget target;
  target.by_port = true;
  target.bus = IntegerArg(info, 0, "busNumber", 1, 255);
  if (!info[1].IsArray()) ThrowError(env, "EINVAL", "ports must be an array of port numbers");
  Napi::Array ports = info[1].As<Napi::Array>();
  if (ports.Length() > 7) ThrowError(env, "EINVAL", "a port path has at most 7 ports (USB allows 5 hub tiers)");
  for (uint32_t i = 0; i < ports.Length(); i++) {
    Napi::Value port = ports.Get(i);
    if (!port.IsNumber()) ThrowError(env, "EINVAL", "ports must be an array of port numbers");
    double value = port.As<Napi::Number>().DoubleValue();
    if (value != static_cast<int>(value) || value < 1 || value > 255) {
      ThrowError(env, "EINVAL", "port numbers are integers from 1 to 255");
    }
    target.ports.push_back(static_cast<uint8_t>(value));
  }
  auto* worker = new OpenWorker(env, target);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace uvc
