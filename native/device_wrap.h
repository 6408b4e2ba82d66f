// Device: the JavaScript object for one open device (created by openDevice/openDeviceByPort, never by `new`).
#pragma once

#include <napi.h>

#include <memory>

#include "device.h"

namespace uvc {

class DeviceEvents;  // its observer (in the .cc)

class DeviceWrap : public Napi::ObjectWrap<DeviceWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  static Napi::Object NewInstance(Napi::Env env, std::shared_ptr<DeviceState> state);

  explicit DeviceWrap(const Napi::CallbackInfo& info);
  ~DeviceWrap() override;

  // Calls this.ondisconnect() if JavaScript set one.
  void EmitDisconnect(Napi::Env env);

 private:
  Napi::Value ControlTransfer(const Napi::CallbackInfo& info);
  Napi::Value ClaimInterface(const Napi::CallbackInfo& info);
  Napi::Value ReleaseInterface(const Napi::CallbackInfo& info);
  Napi::Value SetAltSetting(const Napi::CallbackInfo& info);
  Napi::Value ClearHalt(const Napi::CallbackInfo& info);
  Napi::Value StartStream(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value IsGone(const Napi::CallbackInfo& info);

  std::shared_ptr<DeviceState> state_;
  std::shared_ptr<DeviceEvents> events_;
};

// Opens a device on the thread pool; the promise resolves with a Device.
Napi::Value OpenDevice(const Napi::CallbackInfo& info);
Napi::Value OpenDeviceByPort(const Napi::CallbackInfo& info);

}  // namespace uvc
