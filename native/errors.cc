#include "errors.h"

namespace uvc {

const char* CodeOfLibusbError(int error) {
  switch (error) {
    case LIBUSB_ERROR_IO: return "EIO";
    case LIBUSB_ERROR_INVALID_PARAM: return "EINVAL";
    case LIBUSB_ERROR_ACCESS: return "EACCES";
    case LIBUSB_ERROR_NO_DEVICE: return "ENODEV";
    case LIBUSB_ERROR_NOT_FOUND: return "ENOENT";
    case LIBUSB_ERROR_BUSY: return "EBUSY";
    case LIBUSB_ERROR_TIMEOUT: return "ETIMEDOUT";
    case LIBUSB_ERROR_OVERFLOW: return "EOVERFLOW";
    case LIBUSB_ERROR_PIPE: return "EPIPE";
    case LIBUSB_ERROR_NO_MEM: return "ENOMEM";
    case LIBUSB_ERROR_NOT_SUPPORTED: return "ENOTSUP";
    default: return "EIO";  // INTERRUPTED, OTHER
  }
}

const char* CodeOfTransferStatus(int status) {
  switch (status) {
    case LIBUSB_TRANSFER_COMPLETED: return nullptr;
    case LIBUSB_TRANSFER_TIMED_OUT: return "ETIMEDOUT";
    case LIBUSB_TRANSFER_CANCELLED: return "ECANCELED";
    case LIBUSB_TRANSFER_STALL: return "EPIPE";
    case LIBUSB_TRANSFER_NO_DEVICE: return "ENODEV";
    case LIBUSB_TRANSFER_OVERFLOW: return "EOVERFLOW";
    default: return "EIO";  // LIBUSB_TRANSFER_ERROR
  }
}

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Error MakeLibusbError(Napi::Env env, int error, const std::string& what) {
  Napi::Error e = MakeError(env, CodeOfLibusbError(error), what + ": " + libusb_strerror(error));
  e.Set("libusbError", Napi::String::New(env, libusb_error_name(error)));
  return e;
}

void ThrowError(Napi::Env env, const char* code, const std::string& message) {
  throw MakeError(env, code, message);
}

}  // namespace uvc
