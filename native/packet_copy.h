// The frame assembler's one copy (src/stream/frame-assembler.ts), done in C: see packet_copy.cc.
#pragma once

#include <napi.h>

namespace uvc {

Napi::Value CopyRuns(const Napi::CallbackInfo& info);

}  // namespace uvc
