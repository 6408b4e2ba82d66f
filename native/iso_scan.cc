// The frame assembler's iso short path in C: one call walks the packets of a transfer that simply continue the
// open frame (up to the packet that ends it) and copies each payload straight into the frame buffer. In
// JavaScript that walk cost about as much per 1 KB packet as the copy itself (a header check, a few compares, a
// row for copyRuns); here it is a few loads per packet next to the memcpy. Everything that decides something (a
// frame boundary other than a plain end, a loss, a flag, a learned mode, a trace line) stays in JavaScript: the
// scan stops in front of the packet and JavaScript takes it down its own paths, then calls the scan again for the
// packets after it. A plain end (EOF, or an uncompressed frame's exact size) is taken like any other packet and
// the scan stops right after it, saying so: JavaScript ends the frame (payloadEnd) as its long path would.
//
// isoScan(source, lengths, statuses, memory, block) -> the index of the packet the scan stopped at
//
//   source     Uint8Array: the transfer's buffer; packet i lies at i * stride, lengths[i] bytes long.
//   lengths    Int32Array: each packet's actual length.
//   statuses   Int32Array: each packet's status (0: completed).
//   memory     Uint8Array, or null/undefined: the open frame's buffer (none: the frame is only counted).
//   block      Float64Array: kFieldCount numbers of state (layout below, the same as src/stream/iso-scan.ts), then
//              rows of kRowSize for the SCR samples.
//              State: the assembler's fields the short path reads, written by JavaScript (the assembler's fixed
//              options once, the rest before each call); the ones it changes, written back by the scan, with what
//              it took.
//              Sample rows: [packet index, STC, SOF, has data (0/1), frame bytes before the packet] of the packets
//              whose SOF moved on (the clock's SCR samples, frame-timing.ts `scr`: read here once, so JavaScript
//              does not read the header again), in packet order. JavaScript feeds them to the clock before it
//              ends the frame or handles the packet the scan stopped at.
// One block, not two arrays: each view costs the call an N-API look-up, and the scan is called once per transfer.
//
// stream.scanSlots(slots, counts, memory, block) -> the packet it stopped at, in transfer block[run]
//
//   The same scan over a run of a stream's transfers that follow one another on the bus (none failed, no bus
//   time lost between them), read in the stream's own memory (ScanSlots): `block[runLength]` transfers, transfer
//   k being the completion in slot slots[k] with counts[k] packets (both Int32Array), starting at packet `start`
//   of the first. Where a transfer ends with nothing stopping the scan, it goes on with the next one (its packet
//   0 is the stream's slot `slotBase` plus the packets before it). It stops where isoScan would, and says in
//   which transfer (`run`; runLength when it took them all, returning 0). Sample rows count packets from the
//   first packet of the run's first transfer. The state goes back once, at the end; hasPts and pts too (the
//   frame's PTS, if a packet gave it). One call per run instead of one per transfer, and no view per transfer:
//   the engine hands JavaScript a frame's transfers at once, and what a call costs on both sides of N-API (five
//   views looked up) was as much as its checks and copies for 32 packets of 1 KB. The caller names slots it
//   holds (a slot in flight would be read while the kernel writes it: wrong bytes, never memory out of bounds).
//   slotMemory(slots, packets, packetSize) makes such memory, and its scan, for tests and the benchmark.
//
// The decode contract, per packet i from `start` (the same conditions as the short path in processIso; the
// caller has checked what holds for the whole run: a frame is open, nothing was lost before it, no host gap):
//
// - A failed packet stops the scan; a zero-length one is skipped (as JavaScript skips it).
// - The packet must fit its slot, hold a valid header (payload-header.ts' checkPayloadHeader, requireEoh
//   included), carry the open frame's FID without ERR, and its data must fit in the buffer's room.
//   MJPEG: data starting with a JPEG SOI stops the scan (it may begin the next frame of a camera that leaves out
//   EOF).
// - PTS: a payload with data and a PTS must carry the frame's PTS (once the frame has one) where the PTS is
//   checked: where the SOF moves on, where there is no SCR, or where `ptsDue` says the SOF moved on since the last
//   check. Otherwise the scan stops.
// - SOF (the SCR's 11-bit frame counter): a packet whose SOF differs from `lastSof` is taken only when the change
//   is ordinary: an all-zero SCR (no sample), or, with no host gap pending (`hostGap`: noteSof weighs the host's
//   clock against the SOF and clears it), no evidence evaluated (no SOF yet, SOF 'unusable', no interval) or an
//   excess over our packet slots inside ±SOF_EVIDENCE_MS with nothing learned by it (in SOF mode 'unknown', the
//   8th agreeing sample learns 'consistent': JavaScript does that). Taking it moves lastSof/lastSofAt on, counts
//   the agreeing sample, sets ptsDue, and writes a sample row (also for an all-zero SCR, which the clock itself
//   ignores; then nothing else moves, as in noteSof). A jump, a slow counter, a learning step, a pending host gap,
//   or a full sample table stops the scan.
// - A packet taken counts as a payload; its data (if any) clears ptsDue when it has a PTS, notes the frame's PTS
//   if it had none (`ptsOffset`: JavaScript hands that header to the clock's notePts), adds to frame bytes and
//   bytes, and is copied to memory[position] (when there is a buffer).
// - A packet taken with EOF, or whose data made an uncompressed frame exactly `expectedSize`, ends the scan right
//   after it with `ended` set: JavaScript runs payloadEnd for it (EOF on a frame still without data ends nothing
//   there, as in the long path) before anything else. In the long path such a packet takes the same steps
//   (payloadStart finds the open frame's FID, no SOI, no PTS change, no loss: the frame continues; append copies;
//   payloadEnd ends it).
//
// A packet the scan stops in front of is left untouched: nothing of it is counted, copied or sampled.
//
// Misuse (an argument that is not an ArrayBufferView, a view whose byte length or alignment does not fit its
// element size, a block too short, values out of range, `position`/`capacity` outside the buffer, `start`/`count`
// outside the packet tables) throws EINVAL before anything is written. The views are taken as bytes (see
// BytesView): a typed array of another type with the right shape is read as the type expected, never past its
// bytes. Packets that lie outside `source` are not misuse (a device may report anything): the scan stops there
// and JavaScript refuses them. No byte outside the views given is read or written.
#include "iso_scan.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "errors.h"

namespace uvc {

namespace {

// The state block (src/stream/iso-scan.ts has the same layout).
enum Field : size_t {
  // In, written once per assembler (what its options fix; still checked every call).
  kRequireEoh,    // 1: a header without EOH is refused
  kMjpeg,         // 1: a payload starting with a JPEG SOI stops the scan
  kExpectedSize,  // uncompressed frame size (0: unknown)
  kIntervalNs,    // the bus service interval (0: unknown)
  // In, per call.
  kStart,         // the first packet to look at
  kCount,         // packets in the transfer (the scan ends before this index)
  kStride,        // bytes between packet starts in `source`
  kFid,           // the open frame's FID (0 or 1): bmHeaderInfo & (FID | ERR) must equal it
  kCapacity,      // bytes of `memory` the frame may use
  kSlotBase,      // the stream slot of packet 0 of this transfer (BusTime.base)
  kSofMode,       // 0 'unknown', 1 'consistent', 2 'unusable'
  kHostGap,       // BusTime.hostGap: intervals the host's clock saw lost since the last SOF
  kHasPts,        // 1: the frame's PTS is known (`pts`)
  kPts,           // the frame's PTS
  // In and out.
  kFrameBytes,    // payload bytes of the open frame
  kPosition,      // bytes written into memory
  kPtsDue,        // 1: the next payload with data has its PTS checked
  kLastSof,       // the last SOF seen (-1: none)
  kLastSofAt,     // the slot it was first seen in
  kSofAgreed,     // SOF samples that agreed with our packets
  // Out.
  kPayloads,      // payloads taken
  kBytes,         // payload bytes taken
  kPtsOffset,     // where the header that gave the frame its PTS starts in `source` (-1: none did)
  kSamples,       // sample rows written after the state
  kEnded,         // 1: the last packet taken ends the frame (EOF, or the exact size): the scan stopped after it
  // scanSlots.
  kRun,           // out: the transfer of the run the scan stopped in (runLength: it took them all; isoScan: 0)
  kRunLength,     // in: transfers in the run (1 … kMaxRun)
  kFieldCount,
};

// A sample row: [packet index, STC, SOF, has data (0/1), frame bytes before the packet]. In a run, packets are
// counted from the first packet of its first transfer (a transfer's packets follow the previous one's).
constexpr size_t kRowSize = 5;
// Transfers one scanSlots call takes at most (the engine hands over about one frame's transfers at a time).
constexpr size_t kMaxRun = 64;

constexpr uint8_t kHeaderFid = 0x01;
constexpr uint8_t kHeaderEof = 0x02;
constexpr uint8_t kHeaderPts = 0x04;
constexpr uint8_t kHeaderScr = 0x08;
constexpr uint8_t kHeaderErr = 0x40;
constexpr uint8_t kHeaderEoh = 0x80;
// frame-assembler.ts: SOF_EVIDENCE_MS, and the agreeing samples after which the SOF is taken as 'consistent'.
constexpr double kSofEvidenceMs = 2;
constexpr double kSofAgreedToLearn = 8;
constexpr double kSofUnknown = 0;
constexpr double kSofUnusable = 2;
// Integers JavaScript numbers hold exactly.
constexpr double kMaxSafe = 9007199254740991.0;

struct View {
  uint8_t* data = nullptr;
  size_t length = 0;  // elements
};

// The views' bytes, by one N-API call each (napi_get_buffer_info: any ArrayBufferView). The scan runs once per
// transfer, and napi_get_typedarray_info's type test (a chain of IsXxxArray checks) cost ~60 ns a call here, a
// measurable part of a 1 KB-packet transfer's work; what the scan needs for memory safety is each view's byte
// length and an alignment its elements can be read at, which this checks.
bool BytesView(napi_env env, napi_value value, size_t element_size, View* out) {
  void* data = nullptr;
  size_t bytes = 0;
  if (napi_get_buffer_info(env, value, &data, &bytes) != napi_ok) return false;
  if (bytes % element_size != 0 || reinterpret_cast<uintptr_t>(data) % element_size != 0) return false;
  out->data = static_cast<uint8_t*>(data);
  out->length = bytes / element_size;
  return true;
}

bool InRange(double value, double min, double max, bool integer) {
  if (!(value >= min && value <= max)) return false;  // NaN too
  // Inside ±2^53 here: the conversion is exact for integers (and cheaper than floor without SSE4.1).
  return !integer || static_cast<double>(static_cast<int64_t>(value)) == value;
}

struct FixedRange {
  Field field;
  double min, max;
  bool integer;
  const char* name;
};

// Fields whose range does not depend on the call's views (count, start, capacity and position are checked apart).
// Those the scan uses as integers must be integers; for the others a fraction would only be a wrong answer.
constexpr FixedRange kFixedRanges[] = {
    {kStride, 1, 2147483647.0, true, "stride"},
    {kFid, 0, 1, true, "fid"},
    {kRequireEoh, 0, 1, false, "requireEoh"},
    {kMjpeg, 0, 1, false, "mjpeg"},
    {kExpectedSize, 0, kMaxSafe, true, "expectedSize"},
    {kIntervalNs, 0, kMaxSafe, false, "intervalNs"},
    {kSlotBase, 0, kMaxSafe, false, "slotBase"},
    {kSofMode, 0, 2, false, "sofMode"},
    {kHostGap, 0, kMaxSafe, false, "hostGap"},
    {kHasPts, 0, 1, false, "hasPts"},
    {kPts, 0, 4294967295.0, true, "pts"},
    {kFrameBytes, 0, kMaxSafe, true, "frameBytes"},
    {kPtsDue, 0, 1, false, "ptsDue"},
    {kLastSof, -1, 2047, true, "lastSof"},
    {kLastSofAt, 0, kMaxSafe, false, "lastSofAt"},
    {kSofAgreed, 0, kMaxSafe, false, "sofAgreed"},
};

// checkPayloadHeader (src/stream/payload-header.ts): bHeaderLength when the header is usable, else 0.
int HeaderLength(const uint8_t* packet, int32_t length, bool require_eoh) {
  if (length < 2) return 0;
  int header = packet[0];
  if (header < 2 || header > length || header > 12) return 0;
  uint8_t info = packet[1];
  int needed = 2 + ((info & kHeaderPts) ? 4 : 0) + ((info & kHeaderScr) ? 6 : 0);
  if (header < needed) return 0;
  if (!(info & kHeaderEoh) && (require_eoh || header != needed)) return 0;
  return header;
}

uint32_t ReadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

// What one scan carries from packet to packet (and, in scanSlots, from transfer to transfer): the fields the
// options fix, the call's inputs, and the state it changes, as native values; read from the block once and written
// back once.
struct Scan {
  // Fixed per call.
  bool require_eoh = false;
  bool mjpeg = false;
  int64_t expected_size = 0;
  double interval_ns = 0;
  uint64_t stride = 0;
  uint8_t fid = 0;
  double sof_mode = 0;
  bool host_gap = false;
  bool has_memory = false;
  double* rows = nullptr;
  size_t max_rows = 0;
  // In and out.
  bool has_pts = false;
  uint32_t pts = 0;
  int64_t frame_bytes = 0;
  int64_t room = 0;  // bytes left in memory (none: the frame is only counted, and any packet fits)
  uint8_t* write_at = nullptr;
  bool pts_due = false;
  int last_sof = -1;
  double last_sof_at = 0;
  double sof_agreed = 0;
  // Out.
  int64_t payloads = 0;
  int64_t taken_bytes = 0;
  double pts_offset = -1;
  size_t sample_rows = 0;
  bool ended = false;

  // Reads what the block holds (checked by the caller).
  void Load(const double* state, const View& memory, bool memory_given) {
    require_eoh = state[kRequireEoh] != 0;
    mjpeg = state[kMjpeg] != 0;
    // The byte counts as integers (checked to be integers inside ±2^53): the loop adds and compares them per
    // packet, which in doubles costs conversions at every memcpy.
    expected_size = static_cast<int64_t>(state[kExpectedSize]);
    interval_ns = state[kIntervalNs];
    stride = static_cast<uint64_t>(state[kStride]);
    fid = static_cast<uint8_t>(state[kFid]);
    sof_mode = state[kSofMode];
    host_gap = state[kHostGap] != 0;
    has_memory = memory_given;
    has_pts = state[kHasPts] != 0;
    pts = static_cast<uint32_t>(state[kPts]);
    frame_bytes = static_cast<int64_t>(state[kFrameBytes]);
    room = static_cast<int64_t>(state[kCapacity]) - static_cast<int64_t>(state[kPosition]);
    write_at = memory_given ? memory.data + static_cast<size_t>(state[kPosition]) : nullptr;
    pts_due = state[kPtsDue] != 0;
    last_sof = static_cast<int>(state[kLastSof]);
    last_sof_at = state[kLastSofAt];
    sof_agreed = state[kSofAgreed];
  }

  void Store(double* state, const View& memory) const {
    state[kHasPts] = has_pts ? 1 : 0;
    state[kPts] = pts;
    state[kFrameBytes] = static_cast<double>(frame_bytes);
    state[kPosition] = has_memory ? static_cast<double>(write_at - memory.data) : state[kPosition];
    state[kPtsDue] = pts_due ? 1 : 0;
    state[kLastSof] = last_sof;
    state[kLastSofAt] = last_sof_at;
    state[kSofAgreed] = sof_agreed;
    state[kPayloads] = static_cast<double>(payloads);
    state[kBytes] = static_cast<double>(taken_bytes);
    state[kPtsOffset] = pts_offset;
    state[kSamples] = static_cast<double>(sample_rows);
    state[kEnded] = ended ? 1 : 0;
  }

  // The decode contract above over packets [start, count) of one transfer, whose packet 0 is the stream's slot
  // `slot_base` and the run's packet `packet_base` (a row names its packet by that count). Returns the packet it
  // stopped at (count when it took them all and nothing ended).
  size_t Packets(const View& source, const int32_t* length_of, const int32_t* status_of, size_t start, size_t count,
                 double slot_base, size_t packet_base) {
    const uint8_t* bytes = source.data;
    // The last header found usable, as its first two bytes (bHeaderLength, bmHeaderInfo) with its length: whether
    // a header is usable depends only on them and on the packet's length, and a camera repeats them packet after
    // packet, so a packet starting with the same two bytes (and long enough for them) needs no other check.
    int known_length = 0;
    uint8_t known_info = 0;
    size_t i = start;
    for (; i < count; i++) {
      if (status_of[i] != 0) break;
      const int32_t length = length_of[i];
      if (length <= 0) continue;
      const uint64_t offset = i * stride;
      if (static_cast<uint64_t>(length) > stride || offset + static_cast<uint64_t>(length) > source.length) break;
      const uint8_t* packet = bytes + offset;
      int header;
      if (known_length > 0 && length >= known_length && packet[0] == known_length && packet[1] == known_info) {
        header = known_length;
      } else {
        header = HeaderLength(packet, length, require_eoh);
        if (header == 0) break;
        if ((packet[1] & (kHeaderFid | kHeaderErr)) != fid) break;
        known_length = header;
        known_info = packet[1];
      }
      const uint8_t flags = packet[1];
      const int32_t data = length - header;
      if (has_memory && data > room) break;
      if (mjpeg && data >= 2 && packet[header] == 0xff && packet[header + 1] == 0xd8) break;
      const int scr_at = (flags & kHeaderPts) ? 6 : 2;
      const int sof = (flags & kHeaderScr) ? ((packet[scr_at + 4] | (packet[scr_at + 5] << 8)) & 0x7ff) : -1;
      const bool sof_moved = sof >= 0 && sof != last_sof;
      // The PTS is read only where it is checked: most packets repeat the SOF and are not due a check.
      if ((sof_moved || sof < 0 || pts_due) && (flags & kHeaderPts) && data > 0 && has_pts && ReadU32(packet + 2) != pts) break;
      uint32_t stc = 0;
      bool zero_scr = false;
      bool agrees = false;
      if (sof_moved) {
        if (sample_rows == max_rows) break;  // no room for its row
        stc = ReadU32(packet + scr_at);
        zero_scr = sof == 0 && stc == 0;
        if (!zero_scr && host_gap) break;
        if (!zero_scr && last_sof >= 0 && sof_mode != kSofUnusable && interval_ns > 0) {
          // noteSof's evidence, in the same floating-point operations: the SOF counts 1 ms bus frames modulo 2048,
          // our slots count service intervals.
          const double excess_ms = static_cast<double>((sof - last_sof) & 0x7ff) -
                                   ((slot_base + static_cast<double>(i) - last_sof_at) * interval_ns) / 1e6;
          if (excess_ms >= kSofEvidenceMs || excess_ms <= -kSofEvidenceMs) break;
          if (sof_mode == kSofUnknown && sof_agreed + 1 >= kSofAgreedToLearn) break;
          agrees = true;
        }
      }

      // Taken.
      if (sof_moved) {
        double* row = rows + kRowSize * sample_rows++;
        row[0] = static_cast<double>(packet_base + i);
        row[1] = stc;
        row[2] = sof;
        row[3] = data > 0 ? 1 : 0;
        row[4] = static_cast<double>(frame_bytes);
        if (!zero_scr) {
          if (agrees) sof_agreed++;
          last_sof = sof;
          last_sof_at = slot_base + static_cast<double>(i);
          pts_due = true;
        }
      }
      payloads++;
      if (data > 0) {
        if (flags & kHeaderPts) {
          pts_due = false;
          if (!has_pts) {
            has_pts = true;
            pts = ReadU32(packet + 2);
            pts_offset = static_cast<double>(offset);
          }
        }
        frame_bytes += data;
        taken_bytes += data;
        if (has_memory) {
          memcpy(write_at, packet + header, static_cast<size_t>(data));
          write_at += data;
          room -= data;
        }
      }
      if ((flags & kHeaderEof) || (data > 0 && expected_size > 0 && frame_bytes == expected_size)) {
        // JavaScript ends the frame (payloadEnd) before anything else happens.
        ended = true;
        return i + 1;
      }
    }
    return i;
  }
};

// The memory argument: a view, or else null or undefined (its type looked up only then: most calls have a buffer).
// False when it is neither.
bool MemoryArgument(napi_env env, napi_value value, View* memory, bool* given) {
  *given = BytesView(env, value, 1, memory);
  if (*given) return true;
  napi_valuetype type = napi_object;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  return type == napi_null || type == napi_undefined;
}

// Every field whose range the views do not bound, then capacity and position (bounded by memory). Throws EINVAL.
void CheckState(napi_env env, const char* name, const double* state, const View& memory, bool has_memory) {
  for (const FixedRange& range : kFixedRanges) {
    if (!InRange(state[range.field], range.min, range.max, range.integer)) {
      ThrowError(env, "EINVAL", std::string(name) + ": " + range.name + " is out of range");
    }
  }
  if (!InRange(state[kCapacity], 0, has_memory ? static_cast<double>(memory.length) : kMaxSafe, true)) {
    ThrowError(env, "EINVAL", std::string(name) + ": capacity must be an integer from 0 to the buffer's length");
  }
  if (!InRange(state[kPosition], 0, state[kCapacity], true)) {
    ThrowError(env, "EINVAL", std::string(name) + ": position must be an integer from 0 to capacity");
  }
}

}  // namespace

Napi::Value IsoScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View source, lengths, statuses, memory, block;
  bool has_memory = false;
  if (info.Length() < 5 || !MemoryArgument(env, info[3], &memory, &has_memory) || !BytesView(env, info[0], 1, &source) ||
      !BytesView(env, info[1], 4, &lengths) || !BytesView(env, info[2], 4, &statuses) ||
      !BytesView(env, info[4], 8, &block)) {
    ThrowError(env, "EINVAL",
               "isoScan(source: Uint8Array, lengths: Int32Array, statuses: Int32Array, memory: Uint8Array | null, "
               "block: Float64Array)");
  }
  if (block.length < kFieldCount) {
    ThrowError(env, "EINVAL", "isoScan: the block needs " + std::to_string(kFieldCount) + " numbers and its rows");
  }
  double* state = reinterpret_cast<double*>(block.data);
  // Every input checked before anything is read through it or written.
  CheckState(env, "isoScan", state, memory, has_memory);
  const double packets = static_cast<double>(lengths.length < statuses.length ? lengths.length : statuses.length);
  if (!InRange(state[kCount], 0, packets, true)) {
    ThrowError(env, "EINVAL", "isoScan: count must be an integer from 0 to the packet tables' length");
  }
  if (!InRange(state[kStart], 0, state[kCount], true)) ThrowError(env, "EINVAL", "isoScan: start must be from 0 to count");

  Scan scan;
  scan.Load(state, memory, has_memory);
  scan.rows = state + kFieldCount;
  scan.max_rows = (block.length - kFieldCount) / kRowSize;
  const size_t stop = scan.Packets(source, reinterpret_cast<const int32_t*>(lengths.data),
                                   reinterpret_cast<const int32_t*>(statuses.data), static_cast<size_t>(state[kStart]),
                                   static_cast<size_t>(state[kCount]), state[kSlotBase], 0);
  scan.Store(state, memory);
  state[kRun] = 0;
  return Napi::Number::New(env, static_cast<double>(stop));
}

Napi::Value IsoScanSlots(const Napi::CallbackInfo& info, const ScanSlots& owned) {
  Napi::Env env = info.Env();
  View slots, counts, memory, block;
  bool has_memory = false;
  if (info.Length() < 4 || !BytesView(env, info[0], 4, &slots) || !BytesView(env, info[1], 4, &counts) ||
      !MemoryArgument(env, info[2], &memory, &has_memory) || !BytesView(env, info[3], 8, &block)) {
    ThrowError(env, "EINVAL",
               "scanSlots(slots: Int32Array, counts: Int32Array, memory: Uint8Array | null, block: Float64Array)");
  }
  if (block.length < kFieldCount) {
    ThrowError(env, "EINVAL", "scanSlots: the block needs " + std::to_string(kFieldCount) + " numbers and its rows");
  }
  double* state = reinterpret_cast<double*>(block.data);
  CheckState(env, "scanSlots", state, memory, has_memory);
  const double most = static_cast<double>(std::min({kMaxRun, slots.length, counts.length}));
  if (!InRange(state[kRunLength], 1, most, true)) {
    ThrowError(env, "EINVAL",
               "scanSlots: runLength must be an integer from 1 to " + std::to_string(kMaxRun) +
                   " and to the length of slots and counts");
  }
  const size_t run_length = static_cast<size_t>(state[kRunLength]);
  const int32_t* slot_of = reinterpret_cast<const int32_t*>(slots.data);
  const int32_t* count_of = reinterpret_cast<const int32_t*>(counts.data);
  for (size_t k = 0; k < run_length; k++) {
    if (slot_of[k] < 0 || static_cast<size_t>(slot_of[k]) >= owned.data.size()) {
      ThrowError(env, "EINVAL", "scanSlots: slots[" + std::to_string(k) + "] is no slot of this memory");
    }
    if (count_of[k] < 0 || static_cast<size_t>(count_of[k]) > owned.packets) {
      ThrowError(env, "EINVAL", "scanSlots: counts[" + std::to_string(k) + "] must be from 0 to the packets of a slot");
    }
  }
  if (!InRange(state[kStart], 0, static_cast<double>(count_of[0]), true)) {
    ThrowError(env, "EINVAL", "scanSlots: start must be from 0 to counts[0]");
  }

  Scan scan;
  scan.Load(state, memory, has_memory);
  scan.rows = state + kFieldCount;
  scan.max_rows = (block.length - kFieldCount) / kRowSize;
  double slot_base = state[kSlotBase];
  size_t packet_base = 0;
  size_t start = static_cast<size_t>(state[kStart]);
  size_t k = 0;
  size_t stop = 0;
  for (; k < run_length; k++) {
    const size_t slot = static_cast<size_t>(slot_of[k]);
    const size_t count = static_cast<size_t>(count_of[k]);
    const View source{const_cast<uint8_t*>(owned.data[slot]), owned.data_bytes};
    stop = scan.Packets(source, owned.lengths[slot], owned.statuses[slot], start, count, slot_base, packet_base);
    if (stop < count || scan.ended) break;
    slot_base += static_cast<double>(count);
    packet_base += count;
    start = 0;
    stop = 0;
  }
  scan.Store(state, memory);
  state[kRun] = static_cast<double>(k);
  return Napi::Number::New(env, static_cast<double>(stop));
}

namespace {

// The memory of a SlotMemory: one block, freed when the last of its ArrayBuffer and its scan goes.
struct PoolBlock {
  explicit PoolBlock(size_t bytes) : data(new uint8_t[bytes]()), size(bytes) {}
  std::unique_ptr<uint8_t[]> data;
  size_t size;
};

void FreePoolRef(Napi::Env, void*, std::shared_ptr<PoolBlock>* ref) { delete ref; }

}  // namespace

Napi::Value SlotMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "slotMemory(slots: 1-1024, packets: 1-1024, packetSize: 1-65536)";
  auto integer = [&](size_t i, double max) {
    if (info.Length() <= i || !info[i].IsNumber()) ThrowError(env, "EINVAL", usage);
    const double value = info[i].As<Napi::Number>().DoubleValue();
    if (!InRange(value, 1, max, true)) ThrowError(env, "EINVAL", usage);
    return static_cast<size_t>(value);
  };
  const size_t count = integer(0, 1024);
  const size_t packets = integer(1, 1024);
  const size_t packet_size = integer(2, 65536);
  // As a stream lays its block out: every slot's data (64-byte aligned), then its packet tables.
  const size_t data_bytes = packets * packet_size;
  const size_t data_stride = (data_bytes + 63) / 64 * 64;
  const size_t tables = count * data_stride;
  auto block = std::make_shared<PoolBlock>(tables + count * 2 * packets * sizeof(int32_t));
  auto owned = std::make_unique<ScanSlots>();
  owned->owner = block;
  owned->data_bytes = data_bytes;
  owned->packets = packets;
  Napi::ArrayBuffer memory =
      Napi::ArrayBuffer::New(env, block->data.get(), block->size, FreePoolRef, new std::shared_ptr<PoolBlock>(block));
  Napi::Array slots = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) {
    const size_t statuses = tables + i * 2 * packets * sizeof(int32_t);
    const size_t lengths = statuses + packets * sizeof(int32_t);
    owned->data.push_back(block->data.get() + i * data_stride);
    owned->statuses.push_back(reinterpret_cast<const int32_t*>(block->data.get() + statuses));
    owned->lengths.push_back(reinterpret_cast<const int32_t*>(block->data.get() + lengths));
    Napi::Object slot = Napi::Object::New(env);
    slot.Set("buffer", Napi::Uint8Array::New(env, data_bytes, memory, i * data_stride));
    slot.Set("packetStatus", Napi::Int32Array::New(env, packets, memory, statuses));
    slot.Set("packetLength", Napi::Int32Array::New(env, packets, memory, lengths));
    slots.Set(static_cast<uint32_t>(i), slot);
  }
  ScanSlots* scan_slots = owned.release();
  Napi::Function scan = Napi::Function::New(
      env, [](const Napi::CallbackInfo& call) { return IsoScanSlots(call, *static_cast<ScanSlots*>(call.Data())); },
      "scanSlots", scan_slots);
  scan.AddFinalizer([](Napi::Env, ScanSlots* data) { delete data; }, scan_slots);
  Napi::Object result = Napi::Object::New(env);
  result.Set("slots", slots);
  result.Set("scanSlots", scan);
  return result;
}

}  // namespace uvc
