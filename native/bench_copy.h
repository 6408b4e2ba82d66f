// The benchmark's C memcpy baseline (see bench_copy.cc). Not part of the transport.
#pragma once

#include <napi.h>

namespace uvc {

Napi::Value MemcpySlices(const Napi::CallbackInfo& info);

}  // namespace uvc
