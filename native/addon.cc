// uvc-capture's native transport: libusb (compiled in) behind a small JavaScript surface. The TypeScript side
// (src/transport/native/) is the only intended caller; src/transport/native/addon-types.ts types this surface.
#include <napi.h>

#include <cmath>
#include <string>

#include "addon_data.h"
#include "bench_copy.h"
#include "device_wrap.h"
#include "errors.h"
#include "iso_scan.h"
#include "packet_copy.h"
#include "stream.h"
#include "stream_wrap.h"

namespace uvc {

Napi::Error ErrorOf(Napi::Env env, const OpResult& result) {
  Napi::Error error = MakeError(env, result.code, result.message);
  if (result.libusb_error != 0) error.Set("libusbError", Napi::String::New(env, libusb_error_name(result.libusb_error)));
  return error;
}

namespace {

int CheckInteger(Napi::Env env, Napi::Value value, const char* name, int64_t min, int64_t max) {
  if (!value.IsNumber()) ThrowError(env, "EINVAL", std::string(name) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number || number < static_cast<double>(min) ||
      number > static_cast<double>(max)) {
    ThrowError(env, "EINVAL",
               std::string(name) + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<int>(number);
}

}  // namespace

int IntegerArg(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max) {
  return CheckInteger(info.Env(), info[index], name, min, max);
}

int IntegerProp(Napi::Object object, const char* name, int64_t min, int64_t max, int64_t fallback, bool required) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined() && !required) return static_cast<int>(fallback);
  return CheckInteger(object.Env(), value, name, min, max);
}

namespace {

Napi::Value LibusbVersion(const Napi::CallbackInfo& info) {
  const libusb_version* v = libusb_get_version();
  return Napi::String::New(info.Env(), std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                           std::to_string(v->micro) + "." + std::to_string(v->nano));
}

// Native objects alive in the process, for leak tests.
Napi::Value LiveObjects(const Napi::CallbackInfo& info) {
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("devices", DeviceState::live_count());
  result.Set("streams", StreamState::live_count());
  result.Set("blocks", Block::live_count.load());
  return result;
}

void Teardown(void* arg) {
  auto* bridge = static_cast<std::shared_ptr<EnvBridge>*>(arg);
  (*bridge)->Teardown();
  delete bridge;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->bridge = EnvBridge::Create(env);
  Napi::Function device_class = DeviceWrap::DefineClass(env);
  Napi::Function stream_class = StreamWrap::DefineClass(env);
  data->device_class = Napi::Persistent(device_class);
  data->stream_class = Napi::Persistent(stream_class);
  env.SetInstanceData(data);
  // Worker exit and a normal end of the main thread: cancel, drain and close this environment's devices.
  napi_add_env_cleanup_hook(env, Teardown, new std::shared_ptr<EnvBridge>(data->bridge));

  exports.Set("openDevice", Napi::Function::New<OpenDevice>(env, "openDevice"));
  exports.Set("openDeviceByPort", Napi::Function::New<OpenDeviceByPort>(env, "openDeviceByPort"));
  exports.Set("libusbVersion", Napi::Function::New<LibusbVersion>(env, "libusbVersion"));
  exports.Set("liveObjects", Napi::Function::New<LiveObjects>(env, "liveObjects"));
  exports.Set("copyRuns", Napi::Function::New<CopyRuns>(env, "copyRuns"));
  exports.Set("isoScan", Napi::Function::New<IsoScan>(env, "isoScan"));
  exports.Set("slotMemory", Napi::Function::New<SlotMemory>(env, "slotMemory"));
  exports.Set("memcpySlices", Napi::Function::New<MemcpySlices>(env, "memcpySlices"));
  exports.Set("Device", device_class);
  exports.Set("Stream", stream_class);
  return exports;
}

}  // namespace
}  // namespace uvc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return uvc::Init(env, exports); }

NODE_API_MODULE(uvc_capture, InitModule)
