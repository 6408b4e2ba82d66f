// One asynchronous control transfer: submitted on the JavaScript thread, completed on libusb's event thread,
// settled (its promise resolved or rejected) back on the JavaScript thread.
#pragma once

#include <libusb.h>
#include <napi.h>

#include <memory>
#include <vector>

namespace uvc {

class DeviceState;

struct ControlRequest {
  int bm_request_type = 0;
  int b_request = 0;
  int w_value = 0;
  int w_index = 0;
  int length = 0;               // IN: bytes asked for; OUT: data.size()
  std::vector<uint8_t> data;    // OUT data
  unsigned int timeout_ms = 0;  // 0: none
};

class ControlOp {
 public:
  // Returns the promise: IN resolves with a Uint8Array of what the device sent, OUT with the bytes sent.
  static Napi::Value Submit(Napi::Env env, const std::shared_ptr<DeviceState>& device, const ControlRequest& request);

  ~ControlOp();
  libusb_transfer* transfer() const { return transfer_; }

 private:
  ControlOp() = default;
  static void LIBUSB_CALL OnComplete(libusb_transfer* transfer);
  void Settle(Napi::Env env);
  friend class ControlDoneMessage;

  std::shared_ptr<DeviceState> device_;
  libusb_transfer* transfer_ = nullptr;
  std::vector<uint8_t> buffer_;  // setup packet + data stage
  napi_deferred deferred_ = nullptr;
  bool in_ = false;
  int bm_request_type_ = 0;
  int b_request_ = 0;
  int status_ = LIBUSB_TRANSFER_ERROR;
  int actual_ = 0;
};

}  // namespace uvc
