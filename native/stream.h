// The stream engine: N transfers on one IN endpoint, kept in flight and resubmitted when JavaScript releases
// them. Each completion reaches JavaScript once, as views on the transfer's own memory (no copy).
//
// A slot cycles IN_FLIGHT → (event thread) DELIVERING → (JavaScript thread) HELD → (release) IN_FLIGHT.
// Stopping cancels what is in flight; the stream is drained when nothing is, and only then frees its transfers.
//
// Memory: one block per stream holds every slot's data and, for iso, each slot's packet status and length
// arrays. It is shared (reference-counted) between the stream and the external ArrayBuffer that JavaScript's views
// sit on, so neither the kernel nor JavaScript ever sees it freed: the stream keeps it while transfers may be in
// flight, the ArrayBuffer while any view is reachable.
#pragma once

#include <libusb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "device.h"

namespace uvc {

class StreamWrap;

// Raw memory with a destructor; shared by the stream and the ArrayBuffer finalizer.
struct Block {
  explicit Block(size_t size);
  ~Block();
  uint8_t* data = nullptr;
  size_t size = 0;
  static std::atomic<int> live_count;
};

struct StreamConfig {
  int endpoint = 0;
  int transfer_type = 0;  // LIBUSB_TRANSFER_TYPE_ISOCHRONOUS / _BULK / _INTERRUPT
  int transfers = 0;
  int packets = 0;       // iso
  int packet_size = 0;   // iso
  int transfer_size = 0;  // bulk / interrupt
  unsigned int timeout_ms = 0;
  int interface_number = -1;
  int64_t interval_ns = 125000;

  bool iso() const { return transfer_type == LIBUSB_TRANSFER_TYPE_ISOCHRONOUS; }
  size_t data_bytes() const {
    return iso() ? static_cast<size_t>(packets) * packet_size : static_cast<size_t>(transfer_size);
  }
};

struct StreamStats {
  double completed = 0;
  int in_flight = 0;
  int held = 0;
  double lost_intervals = 0;
};

// What one completion tells JavaScript (the data and packet arrays are in the block).
struct Completion {
  int slot = 0;
  int status = 0;
  int actual_length = 0;
  int packet_count = 0;
  double lost_intervals = 0;
  double completed_at_ns = 0;
  double sequence = 0;
};

class StreamState : public std::enable_shared_from_this<StreamState> {
 public:
  StreamState(std::shared_ptr<DeviceState> device, const StreamConfig& config);
  ~StreamState();

  // Allocates the block and the transfers. False: out of memory.
  bool Allocate();
  const StreamConfig& config() const { return config_; }
  const std::shared_ptr<Block>& block() const { return block_; }
  size_t data_offset(int slot) const { return slot * data_stride_; }
  size_t status_offset(int slot) const;
  size_t length_offset(int slot) const;

  // JavaScript thread. Submits every slot. On failure nothing stays in flight for long: the stream is already
  // stopping (its drained message still comes).
  OpResult Start();
  // JavaScript thread. Hands a held slot back; anything else (twice, after stop) is a no-op.
  void Release(int slot);
  // Any thread. Cancels what is in flight; idempotent. The drained message follows once all came back.
  void BeginStop();
  StreamStats Stats();

  // JavaScript thread, from messages.
  bool TakeCompletion(int slot, Completion* out);  // false: stale (stopped since), drop it
  StreamWrap* wrap = nullptr;                      // JavaScript thread only

  static int live_count() { return live_count_.load(); }

 private:
  enum class SlotState { kIdle, kInFlight, kDelivering, kHeld };
  struct Slot {
    StreamState* stream = nullptr;
    int index = 0;
    libusb_transfer* transfer = nullptr;
    SlotState state = SlotState::kIdle;
    double lost_at_submit = 0;
    int status = 0;
    int actual_length = 0;
    int64_t completed_at_ns = 0;
  };

  static void LIBUSB_CALL OnTransfer(libusb_transfer* transfer);
  int SubmitLocked(Slot& slot, double lost);  // mu_ held
  void FailLocked(Slot& slot, int libusb_error, int64_t now);
  bool DrainedLocked();  // mu_ held: true exactly once, when stopping and nothing is in flight
  void Drained();        // after DrainedLocked: unregister, tell JavaScript

  std::shared_ptr<DeviceState> device_;
  StreamConfig config_;
  std::shared_ptr<Block> block_;
  size_t data_stride_ = 0;
  size_t meta_base_ = 0;

  std::mutex mu_;
  std::vector<Slot> slots_;
  int in_flight_ = 0;
  int held_ = 0;
  double completed_ = 0;
  double lost_total_ = 0;
  int64_t empty_since_ns_ = 0;
  bool stopping_ = false;
  bool drained_ = false;

  static std::atomic<int> live_count_;
};

int64_t MonotonicNs();

}  // namespace uvc
