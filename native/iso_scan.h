// The frame assembler's iso short path in C (src/stream/frame-assembler.ts, processIso): see iso_scan.cc.
#pragma once

#include <napi.h>

namespace uvc {

Napi::Value IsoScan(const Napi::CallbackInfo& info);

}  // namespace uvc
