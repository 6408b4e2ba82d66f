// Per-environment state of the addon (its instance data).
#pragma once

#include <napi.h>

#include <memory>

#include "bridge.h"
#include "device.h"

namespace uvc {

struct AddonData {
  std::shared_ptr<EnvBridge> bridge;
  Napi::FunctionReference device_class;
  Napi::FunctionReference stream_class;
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// A rejected-or-thrown error for an OpResult.
Napi::Error ErrorOf(Napi::Env env, const OpResult& result);

// Argument checks that throw EINVAL errors naming the argument.
int IntegerArg(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max);
int IntegerProp(Napi::Object object, const char* name, int64_t min, int64_t max, int64_t fallback, bool required);

}  // namespace uvc
