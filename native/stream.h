// The stream engine: `transfers` transfers kept in flight on one IN endpoint, out of `transfers + spares` slots
// (each a libusb transfer with its own buffer). When a transfer completes, the event thread submits a free slot
// at once and queues the completed one for JavaScript, so the bus never waits for JavaScript while a spare is
// left; release() puts a slot back on the free list. Each completion reaches JavaScript once, as views on the
// slot's own memory (no copy, no allocation per transfer).
//
// A slot cycles FREE → IN_FLIGHT → (event thread) READY → (JavaScript thread) HELD → (release) FREE.
// When JavaScript holds every slot long enough that nothing is in flight, the intervals that pass are lost
// (counted, and reported with the next completion). A transfer that fails at once (an error status, or a submit
// error) is resubmitted after a growing delay; after FailureLimit() in a row the engine gives up: the
// last failed completion is marked final and the stream stops itself.
// Stopping cancels what is in flight; the stream is drained when nothing is, and only then frees its transfers.
//
// Ownership (who keeps whom alive):
// - DeviceState owns each StreamState from AddStream until it drained (its `streams_` entry), so a stream with
//   transfers in flight outlives everything else; the JavaScript Stream object (StreamWrap) holds a second
//   reference for as long as it lives. A StreamState holds its DeviceState, never the other way round once drained.
// - The stream's memory (Block) is co-owned by the StreamState and the external ArrayBuffer under JavaScript's
//   views: neither the kernel nor JavaScript ever sees it freed.
// - The StreamObserver (the wrapper's side: it posts to JavaScript) is owned by the StreamState; it holds no
//   reference back to the state, so there is no cycle. Core code never touches JavaScript: it only tells the
//   observer, from any thread, that completions are ready, that the stream drained.
//
// Zero copy (Linux): the first `zero_copy_slots` slots' data buffers are usbfs memory (libusb_dev_mem_alloc, an
// mmap of the device file), so the kernel hands the device's bytes to the host controller driver in our memory:
// usbfs neither allocates a bounce buffer per submit (zeroed, then cleared again for iso) nor copies it out at
// reap. In the kernel rig's guest that was two thirds of the bare C reader's CPU (perf: copy_user, clear_page,
// memset per URB). Those slots go out first (FreeSlots), so they carry the steady stream, and the rest (spares for
// a stall, in plain memory) only what a stall needs: the mappings count against usbfs_memory_mb (16 MiB for the
// whole machine) for as long as they exist, and mapping every spare left a second camera none. Used when each of
// those slots gets its buffer; otherwise (usbfs_memory_mb reached, not Linux, not x86 unless
// UVC_USBFS_ZERO_COPY=1: usbfs memory may be uncached there, see MapSlotBuffers; UVC_USBFS_ZERO_COPY=0) every
// slot's data lives in the block and usbfs copies, as before. Stats say which (zeroCopy, zeroCopySlots, copied).
//
// Memory layout of the block: the data of every slot without usbfs memory (64-byte aligned stride), then for iso each slot's packet status
// and length arrays (int32 × packets each), then each slot's completion record (kRecordFields doubles), then
// the batch list (int32 per slot) that tells JavaScript which slots one dispatch carries, in order, then the release
// list (int32 per slot) in which JavaScript names the slots one ReleaseList call hands back.
#pragma once

#include <libusb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "device.h"
#include "free_slots.h"

namespace uvc {

// Raw memory with a destructor; shared by the stream and the ArrayBuffer finalizers. Also owns the slots' usbfs
// buffers when the stream has them (see "Zero copy" below): unmapped with the block.
struct Block {
  explicit Block(size_t size);
  ~Block();
  uint8_t* data = nullptr;
  size_t size = 0;
  std::vector<uint8_t*> mapped;  // one per zero-copy slot (the first ones), each `mapped_size` bytes
  size_t mapped_size = 0;
  // Replaces each usbfs mapping with anonymous zeroed memory at the same address (one atomic mmap MAP_FIXED each):
  // usbfs gets its memory and its hold on the device file back now, while a view JavaScript still keeps reads
  // zeros instead of faulting. Only once no transfer uses the memory. Idempotent.
  void ReleaseMappings();
  bool mappings_released = false;
  static std::atomic<int> live_count;
};

// When the engine wakes JavaScript for completions that are ready (see "Waking JavaScript" in README.md).
enum class WakeOn {
  kTransfer,  // at every completion (unless a notice is already pending)
  // at a UVC frame edge: a completion whose payload headers show an EOF, an ERR or a FID toggle (unless an EOF
  // ended that frame already); also at any
  // failed or final completion, a disconnect, when free slots run low, and at the latest `wake_after_ns` after
  // the first completion that was not told.
  kUvcFrame,
};

struct StreamConfig {
  int endpoint = 0;
  int transfer_type = 0;  // LIBUSB_TRANSFER_TYPE_ISOCHRONOUS / _BULK / _INTERRUPT
  int transfers = 0;      // kept in flight
  int spares = 0;         // slots beyond those, submitted while JavaScript holds completed ones
  int packets = 0;        // iso
  int packet_size = 0;    // iso
  int transfer_size = 0;  // bulk / interrupt
  unsigned int timeout_ms = 0;
  int interface_number = -1;
  int64_t interval_ns = 125000;
  WakeOn wake_on = WakeOn::kTransfer;
  int64_t wake_after_ns = 20000000;  // kUvcFrame: the longest a completion waits untold
  int zero_copy_slots = -1;          // slots, the first ones, given usbfs memory when zero copy is on (-1: all)

  bool iso() const { return transfer_type == LIBUSB_TRANSFER_TYPE_ISOCHRONOUS; }
  int slots() const { return transfers + spares; }
  size_t data_bytes() const {
    return iso() ? static_cast<size_t>(packets) * packet_size : static_cast<size_t>(transfer_size);
  }
};

struct StreamStats {
  double completed = 0;
  int in_flight = 0;
  int held = 0;
  double lost_intervals = 0;
  int spares_free = 0;         // free slots now
  int spares_low = 0;          // fewest free slots seen since the start (0: JavaScript fell behind by all spares)
  double starved = 0;          // times nothing was in flight because JavaScript held every slot
  double failures = 0;         // failed completions and submits
  double gone_deferred = 0;    // unplug notices from a refused resubmit, held behind transfers still in flight
  double notices = 0;          // times JavaScript was woken for ready completions
  bool zero_copy = false;      // the first slots' buffers are usbfs memory (see "Zero copy")
  int zero_copy_slots = 0;     // how many
  double copied = 0;           // submits of a slot in plain memory (usbfs copied its data)
};

// A completion record, as JavaScript reads it (doubles, in this order).
enum RecordField {
  kRecordStatus = 0,
  kRecordActualLength,
  kRecordPacketCount,
  kRecordLostIntervals,
  kRecordCompletedAtNs,
  kRecordSequence,
  kRecordFinal,  // 1: the engine gave up after this failure; the stream has stopped itself
  kRecordFields,
};

// Told by the engine from native threads (the event thread, the thread pool) or the JavaScript thread;
// implementations only post work to JavaScript. Never called with the stream's lock held.
class StreamObserver {
 public:
  virtual ~StreamObserver() = default;
  // Completions wait in TakeReady. Called once per batch: not again until TakeReady ran.
  virtual void CompletionsReady() = 0;
  // Every transfer came back after stop (or the device was abandoned with them): no completion follows.
  virtual void Drained() = 0;
};

class StreamState : public std::enable_shared_from_this<StreamState> {
 public:
  // Consecutive immediate failures before the engine gives up: at least 16 (the status endpoint monitor's bound),
  // and two rounds of every transfer in flight (one bus event can fail all of those at once). The same rule as
  // the video stream's above it (src/stream/video-stream.ts).
  static int FailureLimit(int transfers) { return transfers * 2 > 16 ? transfers * 2 : 16; }

  StreamState(std::shared_ptr<DeviceState> device, const StreamConfig& config);
  ~StreamState();

  // Allocates the block and the transfers. False: out of memory.
  bool Allocate();
  // Before Start, on the JavaScript thread.
  void SetObserver(std::shared_ptr<StreamObserver> observer) { observer_ = std::move(observer); }

  const StreamConfig& config() const { return config_; }
  const std::shared_ptr<Block>& block() const { return block_; }
  // Whether the slot's data is its own usbfs buffer (zero copy: the first slots), else its place in the block.
  bool zero_copy_slot(int slot) const { return static_cast<size_t>(slot) < block_->mapped.size(); }
  uint8_t* slot_data(int slot) const {
    return zero_copy_slot(slot) ? block_->mapped[slot] : block_->data + data_offset(slot);
  }
  // In the block, for a slot without usbfs memory (the block holds only theirs).
  size_t data_offset(int slot) const { return (static_cast<size_t>(slot) - block_->mapped.size()) * data_stride_; }
  size_t status_offset(int slot) const;
  size_t length_offset(int slot) const;
  size_t record_offset(int slot) const { return records_base_ + static_cast<size_t>(slot) * kRecordFields * 8; }
  size_t batch_offset() const { return batch_base_; }
  size_t release_list_offset() const { return batch_base_ + 4 * static_cast<size_t>(config_.slots()); }

  // JavaScript thread. Submits `transfers` slots. On failure nothing stays in flight for long: the stream is
  // already stopping (its drained notice still comes).
  OpResult Start();
  // JavaScript thread. Hands a held slot back; anything else (twice, after stop) is a no-op.
  void Release(int slot);
  // JavaScript thread. Release for the first `count` slots of the release list, under one lock and with one refill
  // (a dispatch's completions are handed back together: one call and one lock per frame instead of per transfer,
  // and fewer chances to wait for the event thread, which holds the lock while it submits).
  void ReleaseList(int count);
  // Any thread. Cancels what is in flight; idempotent. The drained notice follows once all came back.
  void BeginStop();
  // JavaScript thread, once it was told the stream drained (nothing more is dispatched): with zero copy and nothing
  // in flight, gives the slots' usbfs memory back at once (see Block::ReleaseMappings) rather than when the last
  // view of it is collected, so that a stream opened next (a reopen, another mode) finds the usbfs budget free.
  void ReleaseMappings();
  // Any thread: the device gave up waiting for this stream's transfers (they stay allocated, with the device,
  // forever). JavaScript is told the stream drained, so nothing waits on it any more.
  void Abandon();
  // Event thread: a backoff delay ended.
  void RetryDue();
  // Any thread: JavaScript is told of every completion ready now (the device tells its streams before it tells
  // of a disconnect, so that no completion deferred by kUvcFrame comes after that notice).
  void WakeNow();
  StreamStats Stats();

  // JavaScript thread: moves up to `max` ready completions to HELD, writes their records and the batch list in
  // the block, and returns how many (0: none, or stopped since). *more: some are left (the caller must come back:
  // no notice is sent for them). kUvcFrame: one frame per call at most (up to and including its edge), so that
  // JavaScript's promises (a consumer requeueing its buffer) run between frames; what is left of a frame whose
  // edge has not come yet waits untold again, unless the spares run low.
  int TakeReady(int max, bool* more);

  static int live_count() { return live_count_.load(); }

 private:
  enum class SlotState { kFree, kInFlight, kReady, kHeld };
  struct Slot {
    StreamState* stream = nullptr;
    int index = 0;
    libusb_transfer* transfer = nullptr;
    SlotState state = SlotState::kFree;
    double lost_at_submit = 0;
    int status = 0;
    int actual_length = 0;
    int64_t submitted_at_ns = 0;
    int64_t completed_at_ns = 0;
    bool final = false;
    bool urgent = false;  // kUvcFrame: a frame edge, a failure, a disconnect
  };

  static void LIBUSB_CALL OnTransfer(libusb_transfer* transfer);
  // Zero copy: one usbfs buffer of `size` bytes per slot, all or none (none: empty).
  std::vector<uint8_t*> MapSlotBuffers(int count, size_t size);
  // mu_ held. Submits free slots until `transfers` are in flight (unless stopping, gone or backing off); `now`
  // 0: the clock is read only if needed. Returns true if a notice must be sent (a failed submit became a ready
  // completion); sets *gone when a submit said the device is gone.
  bool RefillLocked(int64_t now, bool* gone);
  // mu_ held: a held slot back on the free list; false if it was not held (twice, after stop).
  bool ReleaseLocked(int slot);
  int SubmitLocked(Slot& slot, int64_t now);
  // mu_ held: queues a completed slot for JavaScript.
  void ReadyLocked(Slot& slot);
  // mu_ held, after ReadyLocked (and the refill): true if the observer must be told now. `urgent`: the completion
  // must reach JavaScript without delay (a failure, a disconnect, a frame edge). Otherwise kUvcFrame defers it
  // (arming the backstop) unless free slots ran low.
  bool WakeLocked(bool urgent, int64_t now);
  // mu_ held, kUvcFrame: does the slot's data hold a frame edge (EOF, ERR, a FID toggle)? Tracks the FID.
  bool FrameEdgeLocked(const Slot& slot);
  void BackstopDue();  // event thread: the backstop timer of kUvcFrame
  bool SparesLowLocked() const;       // mu_ held: free slots at half the spares or fewer
  void ArmBackstopLocked(int64_t due);  // mu_ held: a BackstopDue task at `due`, unless one is pending
  // mu_ held: counts a failure; schedules the retry or gives up. Returns true when it gave up.
  bool FailureLocked(Slot& slot, int64_t now);
  void StopLocked();     // mu_ held: stopping_, cancel in flight, drop what JavaScript holds
  bool DrainedLocked();  // mu_ held: true exactly once, when stopping and nothing is in flight
  void Drained();        // after DrainedLocked: unregister, tell JavaScript
  void Notify(bool ready, bool drained, bool gone);

  std::shared_ptr<DeviceState> device_;
  StreamConfig config_;
  std::shared_ptr<StreamObserver> observer_;
  std::shared_ptr<Block> block_;
  size_t data_stride_ = 0;
  size_t meta_base_ = 0;
  size_t records_base_ = 0;
  size_t batch_base_ = 0;

  std::mutex mu_;
  std::vector<Slot> slots_;
  FreeSlots free_;          // free slot indexes, those with usbfs memory first (never allocates after Allocate)
  std::vector<int> ready_;  // ring of slot indexes waiting for JavaScript, in completion order
  size_t ready_head_ = 0;
  size_t ready_count_ = 0;
  bool notice_pending_ = false;
  double notices_ = 0;
  // kUvcFrame: when the oldest completion not yet told was queued (0: every ready one is told); the last FID
  // seen (-1: none yet); the frame of that FID already ended at an edge (its EOF), so the next toggle is no
  // edge of its own; bulk: an EOF header seen whose payload has not ended yet; a backstop task pending.
  int64_t untold_since_ns_ = 0;
  int last_fid_ = -1;
  bool fid_ended_ = false;
  bool bulk_eof_pending_ = false;
  bool backstop_armed_ = false;
  int in_flight_ = 0;
  int held_ = 0;
  double completed_ = 0;
  double lost_total_ = 0;
  double starved_ = 0;
  double failures_total_ = 0;
  int free_low_ = 0;
  double copied_ = 0;
  int64_t empty_since_ns_ = 0;  // when in_flight_ last dropped to 0 (0: never)
  bool starved_now_ = false;    // nothing in flight because no slot was free
  int consecutive_failures_ = 0;
  int64_t retry_at_ns_ = 0;  // backing off until then (0: not)
  bool stopping_ = false;
  // The engine stopped the stream itself (FailureLimit): what was ready before the final failure is still told.
  bool gave_up_ = false;
  // A resubmit the kernel refused because the device left (usbfs refuses at once, while the transfers it completed
  // before the unplug may not be reaped yet): that slot's NO_DEVICE completion waits here until nothing is in
  // flight, so JavaScript gets the last frames' data before it hears of the unplug (-1: none waiting).
  int gone_slot_ = -1;
  double gone_deferred_ = 0;
  bool drained_ = false;
  bool abandoned_ = false;

  static std::atomic<int> live_count_;
};

int64_t MonotonicNs();

}  // namespace uvc
