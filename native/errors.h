// Errors handed to JavaScript: plain Error objects with a POSIX `code` (and, when libusb said something, its
// error name in `libusbError`). The TypeScript side turns them into UvcErrors.
#pragma once

#include <libusb.h>
#include <napi.h>

#include <string>

namespace uvc {

// The POSIX code of a libusb error (LIBUSB_ERROR_*).
const char* CodeOfLibusbError(int error);

// The POSIX code of a non-successful transfer status; nullptr for COMPLETED.
const char* CodeOfTransferStatus(int status);

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message);
Napi::Error MakeLibusbError(Napi::Env env, int error, const std::string& what);

[[noreturn]] void ThrowError(Napi::Env env, const char* code, const std::string& message);

}  // namespace uvc
