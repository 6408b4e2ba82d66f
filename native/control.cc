#include "control.h"

#include <cstdio>
#include <cstring>

#include "bridge.h"
#include "device.h"
#include "errors.h"

namespace uvc {

class ControlDoneMessage : public Message {
 public:
  explicit ControlDoneMessage(ControlOp* op) : op_(op) {}
  void Deliver(Napi::Env env) override { op_->Settle(env); }

 private:
  std::unique_ptr<ControlOp> op_;
};

namespace {
std::string Describe(int bm_request_type, int b_request) {
  char buf[80];
  snprintf(buf, sizeof buf, "control transfer (bmRequestType 0x%02x, bRequest 0x%02x)", bm_request_type, b_request);
  return buf;
}
}  // namespace

ControlOp::~ControlOp() {
  if (transfer_ != nullptr) libusb_free_transfer(transfer_);
}

Napi::Value ControlOp::Submit(Napi::Env env, const std::shared_ptr<DeviceState>& device,
                              const ControlRequest& request) {
  std::string what = Describe(request.bm_request_type, request.b_request);
  napi_deferred deferred = nullptr;
  napi_value promise = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &deferred, &promise), Napi::Value());
  auto reject = [&](const Napi::Error& error) {
    napi_reject_deferred(env, deferred, error.Value());
    return Napi::Value(env, promise);
  };
  if (const char* code = device->Unusable()) {
    return reject(MakeError(env, code, what + (code[1] == 'B' ? ": the device was closed"
                                                              : ": the device is gone (unplugged)")));
  }

  std::unique_ptr<ControlOp> op(new ControlOp());
  op->device_ = device;
  op->in_ = (request.bm_request_type & LIBUSB_ENDPOINT_IN) != 0;
  op->bm_request_type_ = request.bm_request_type;
  op->b_request_ = request.b_request;
  op->buffer_.assign(LIBUSB_CONTROL_SETUP_SIZE + request.length, 0);
  libusb_fill_control_setup(op->buffer_.data(), static_cast<uint8_t>(request.bm_request_type),
                            static_cast<uint8_t>(request.b_request), static_cast<uint16_t>(request.w_value),
                            static_cast<uint16_t>(request.w_index), static_cast<uint16_t>(request.length));
  if (!op->in_ && request.length > 0) {
    memcpy(op->buffer_.data() + LIBUSB_CONTROL_SETUP_SIZE, request.data.data(), request.length);
  }
  op->transfer_ = libusb_alloc_transfer(0);
  if (op->transfer_ == nullptr) return reject(MakeError(env, "ENOMEM", what + ": out of memory"));
  libusb_fill_control_transfer(op->transfer_, device->handle(), op->buffer_.data(), OnComplete, op.get(),
                               request.timeout_ms);
  if (!device->AddControl(op.get())) return reject(MakeError(env, "EBADF", what + ": the device was closed"));
  // Everything the completion needs is in place before the submit: after it, the op belongs to libusb (and then
  // to the message that settles it) and this thread must not touch it.
  op->deferred_ = deferred;
  device->bridge()->Hold();
  device->TransferSubmitted();
  ControlOp* submitted = op.release();
  int r = device->Note(libusb_submit_transfer(submitted->transfer_));
  if (r != LIBUSB_SUCCESS) {
    std::unique_ptr<ControlOp> back(submitted);
    back->deferred_ = nullptr;
    device->RemoveControl(submitted);
    device->TransferReturned();
    device->bridge()->Unhold();
    return reject(MakeLibusbError(env, r, what));
  }
  return Napi::Value(env, promise);
}

void LIBUSB_CALL ControlOp::OnComplete(libusb_transfer* transfer) {
  auto* op = static_cast<ControlOp*>(transfer->user_data);
  std::shared_ptr<DeviceState> device = op->device_;  // keeps the device alive past the post
  op->status_ = transfer->status;
  op->actual_ = transfer->actual_length;
  device->RemoveControl(op);
  if (transfer->status == LIBUSB_TRANSFER_NO_DEVICE) device->MarkGone();
  // If the environment is gone the message (and with it the op and its transfer) is destroyed right here,
  // which libusb allows inside a transfer's own callback.
  device->bridge()->Post(std::make_unique<ControlDoneMessage>(op));
  device->TransferReturned();
}

void ControlOp::Settle(Napi::Env env) {
  device_->bridge()->Unhold();
  napi_deferred deferred = deferred_;
  deferred_ = nullptr;
  napi_value value;
  if (status_ == LIBUSB_TRANSFER_COMPLETED) {
    if (in_) {
      Napi::ArrayBuffer data = Napi::ArrayBuffer::New(env, static_cast<size_t>(actual_));
      if (actual_ > 0) memcpy(data.Data(), buffer_.data() + LIBUSB_CONTROL_SETUP_SIZE, actual_);
      value = Napi::Uint8Array::New(env, static_cast<size_t>(actual_), data, 0);
    } else {
      value = Napi::Number::New(env, actual_);
    }
    napi_resolve_deferred(env, deferred, value);
    return;
  }
  std::string what = Describe(bm_request_type_, b_request_);
  const char* code = CodeOfTransferStatus(status_);
  std::string reason;
  switch (status_) {
    case LIBUSB_TRANSFER_TIMED_OUT: reason = "timed out"; break;
    case LIBUSB_TRANSFER_STALL: reason = "the device stalled the request"; break;
    case LIBUSB_TRANSFER_NO_DEVICE: reason = "the device is gone (unplugged)"; break;
    case LIBUSB_TRANSFER_CANCELLED: reason = "cancelled because the device was closed"; break;
    case LIBUSB_TRANSFER_OVERFLOW: reason = "the device sent more than asked for"; break;
    default: reason = "transfer error"; break;
  }
  napi_reject_deferred(env, deferred, MakeError(env, code, what + ": " + reason).Value());
}

}  // namespace uvc
