// The frame assembler's iso short path in C (src/stream/frame-assembler.ts, processIso): see iso_scan.cc.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace uvc {

// Transfer slots whose memory a scan reads by slot number (a stream's own, or a SlotMemory's): each slot's data
// (`data_bytes`) and packet tables (`packets` lengths and statuses). `owner` keeps all of it alive.
struct ScanSlots {
  std::shared_ptr<const void> owner;
  size_t data_bytes = 0;
  size_t packets = 0;
  std::vector<const uint8_t*> data;
  std::vector<const int32_t*> lengths;
  std::vector<const int32_t*> statuses;
};

Napi::Value IsoScan(const Napi::CallbackInfo& info);
// scanSlots(slots, counts, memory, block): the same over a run of transfers in `owned`'s slots (see iso_scan.cc).
Napi::Value IsoScanSlots(const Napi::CallbackInfo& info, const ScanSlots& owned);
// slotMemory(slots, packets, packetSize) -> { slots: [{ buffer, packetStatus, packetLength }], scanSlots }: memory
// laid out as a stream's slots, with its scan (for tests and the benchmark, whose transfers are not a stream's).
Napi::Value SlotMemory(const Napi::CallbackInfo& info);

}  // namespace uvc
