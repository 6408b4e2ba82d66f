#include "stream.h"

#include <time.h>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "usb_context.h"

namespace uvc {

std::atomic<int> StreamState::live_count_{0};
std::atomic<int> Block::live_count{0};

namespace {
// Backoff after the n-th consecutive immediate failure: 1, 2, 4 … ms, at most 100 ms.
int64_t BackoffNs(int failures) {
  int64_t ms = int64_t{1} << std::min(failures - 1, 7);
  return std::min<int64_t>(ms, 100) * 1000000;
}

bool IsFailure(int status) {
  // A timeout is the bulk endpoint having nothing to say; anything else but success failed at once.
  return status != LIBUSB_TRANSFER_COMPLETED && status != LIBUSB_TRANSFER_TIMED_OUT;
}
}  // namespace

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // the clock of process.hrtime()
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Block::Block(size_t n) {
  size_t rounded = (n + 4095) & ~size_t{4095};
  void* p = nullptr;
  if (posix_memalign(&p, 4096, rounded == 0 ? 4096 : rounded) == 0) {
    memset(p, 0, rounded == 0 ? 4096 : rounded);
    data = static_cast<uint8_t*>(p);
    size = n;
    live_count++;
  }
}

Block::~Block() {
#ifdef __linux__
  // libusb_dev_mem_free() needs the device handle, which may be closed long before JavaScript lets go of its views;
  // on Linux the buffer is a plain mapping of the usbfs file, and unmapping it is all that call does (libusb
  // 1.0.30's linux_usbfs.c, op_dev_mem_free: the copy the `usb` package vendors and we build). The kernel keeps the memory until the last URB using it has come back.
  for (uint8_t* p : mapped) munmap(p, mapped_size);
#endif
  if (data != nullptr) {
    free(data);
    live_count--;
  }
}

StreamState::StreamState(std::shared_ptr<DeviceState> device, const StreamConfig& config)
    : device_(std::move(device)), config_(config) {
  live_count_++;
}

StreamState::~StreamState() {
  // Only reached once drained (a stream with transfers in flight is owned by its device until it drains), or
  // never (abandoned with a leaked device).
  for (Slot& slot : slots_) {
    if (slot.transfer != nullptr) libusb_free_transfer(slot.transfer);
  }
  live_count_--;
}

void Block::ReleaseMappings() {
#ifdef __linux__
  if (mappings_released) return;
  mappings_released = true;
  for (uint8_t* p : mapped) {
    // On failure (no memory for the anonymous pages) the usbfs mapping stays, until the block goes.
    mmap(p, mapped_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }
#endif
}

void StreamState::ReleaseMappings() {
  std::lock_guard<std::mutex> lock(mu_);
  // Abandoned streams (their transfers never came back) keep the memory the kernel may still write.
  if (block_ == nullptr || block_->mapped.empty() || !stopping_ || in_flight_ != 0) return;
  block_->ReleaseMappings();
}

size_t StreamState::status_offset(int slot) const {
  return meta_base_ + static_cast<size_t>(slot) * 8 * config_.packets;
}

size_t StreamState::length_offset(int slot) const { return status_offset(slot) + 4 * static_cast<size_t>(config_.packets); }

std::vector<uint8_t*> StreamState::MapSlotBuffers(int count, size_t size) {
  std::vector<uint8_t*> mapped;
#ifdef __linux__
  // usbfs maps memory from usb_alloc_coherent(): ordinary cached memory where DMA is cache-coherent (x86), but on
  // many ARM boards (Raspberry Pi among them) an uncached mapping, which the assembler reads every byte of 5-50x
  // slower than it saves (raspberrypi/linux#3818, libusb/libusb#1074). So: on by default only on x86;
  // UVC_USBFS_ZERO_COPY=1 turns it on elsewhere (a board known to be coherent), =0 turns it off.
#if defined(__x86_64__) || defined(__i386__)
  bool wanted = true;
#else
  bool wanted = false;
#endif
  const char* env = getenv("UVC_USBFS_ZERO_COPY");
  if (env != nullptr && strcmp(env, "0") == 0) wanted = false;
  if (env != nullptr && strcmp(env, "1") == 0) wanted = true;
  if (!wanted) return mapped;
  if (config_.transfer_type == LIBUSB_TRANSFER_TYPE_INTERRUPT || size == 0) return mapped;  // small: copying is cheap
  mapped.reserve(count);
  for (int i = 0; i < count; i++) {
    uint8_t* p = libusb_dev_mem_alloc(device_->handle(), size);
    if (p == nullptr) {
      // usbfs_memory_mb reached (the mappings count against it), or no mmap support: copy instead, for every slot.
      for (uint8_t* q : mapped) munmap(q, size);
      mapped.clear();
      break;
    }
    mapped.push_back(p);
  }
#else
  (void)count;
  (void)size;
#endif
  return mapped;
}

bool StreamState::Allocate() {
  int count = config_.slots();
  size_t data_bytes = config_.data_bytes();
  data_stride_ = (data_bytes + 63) & ~size_t{63};
  size_t page = 4096;
#ifdef __linux__
  page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
#endif
  size_t mapped_size = (data_bytes + page - 1) / page * page;
  int zero_copy = config_.zero_copy_slots < 0 ? count : std::min(config_.zero_copy_slots, count);
  std::vector<uint8_t*> mapped = MapSlotBuffers(zero_copy, mapped_size);
  meta_base_ = data_stride_ * (count - mapped.size());
  size_t meta = config_.iso() ? 8 * static_cast<size_t>(config_.packets) : 0;
  records_base_ = (meta_base_ + meta * count + 7) & ~size_t{7};
  batch_base_ = records_base_ + static_cast<size_t>(count) * kRecordFields * 8;
  block_ = std::make_shared<Block>(batch_base_ + 8 * static_cast<size_t>(count));  // the batch and release lists
  block_->mapped = std::move(mapped);  // unmapped with the block, even if it could not be allocated
  block_->mapped_size = mapped_size;
  if (block_->data == nullptr) return false;

  slots_.resize(count);  // never resized again: transfers point at their slot
  ready_.assign(count, 0);
  for (int i = 0; i < count; i++) {
    Slot& slot = slots_[i];
    slot.stream = this;
    slot.index = i;
    slot.transfer = libusb_alloc_transfer(config_.iso() ? config_.packets : 0);
    if (slot.transfer == nullptr) return false;
    unsigned char* buffer = slot_data(i);
    auto endpoint = static_cast<unsigned char>(config_.endpoint);
    switch (config_.transfer_type) {
      case LIBUSB_TRANSFER_TYPE_ISOCHRONOUS:
        libusb_fill_iso_transfer(slot.transfer, device_->handle(), endpoint, buffer, static_cast<int>(data_bytes),
                                 config_.packets, OnTransfer, &slot, 0);
        libusb_set_iso_packet_lengths(slot.transfer, static_cast<unsigned int>(config_.packet_size));
        break;
      case LIBUSB_TRANSFER_TYPE_INTERRUPT:
        libusb_fill_interrupt_transfer(slot.transfer, device_->handle(), endpoint, buffer,
                                       static_cast<int>(data_bytes), OnTransfer, &slot, config_.timeout_ms);
        break;
      default:
        libusb_fill_bulk_transfer(slot.transfer, device_->handle(), endpoint, buffer, static_cast<int>(data_bytes),
                                  OnTransfer, &slot, config_.timeout_ms);
        break;
    }
  }
  // Slot 0 first: the first submits take 0, 1, 2 … in order.
  free_.Reset(count, static_cast<int>(block_->mapped.size()));
  free_low_ = count - config_.transfers;
  return true;
}

int StreamState::SubmitLocked(Slot& slot, int64_t now) {
  double lost = 0;
  if (in_flight_ == 0 && empty_since_ns_ != 0) {
    // Nothing was in flight since empty_since_ns_: whatever the device sent meanwhile is lost.
    lost = std::floor(static_cast<double>(now - empty_since_ns_) / static_cast<double>(config_.interval_ns));
  }
  if (config_.iso()) {
    // No stale packet results can survive into the next completion.
    for (int i = 0; i < config_.packets; i++) {
      slot.transfer->iso_packet_desc[i].actual_length = 0;
      slot.transfer->iso_packet_desc[i].status = LIBUSB_TRANSFER_COMPLETED;
    }
  }
  device_->TransferSubmitted();
  in_flight_++;
  slot.state = SlotState::kInFlight;
  slot.submitted_at_ns = now;
  int r = libusb_submit_transfer(slot.transfer);
  if (r != LIBUSB_SUCCESS) {
    slot.state = SlotState::kFree;
    in_flight_--;
    device_->TransferNotSubmitted();
    return r;
  }
  slot.lost_at_submit = lost;
  if (!zero_copy_slot(slot.index)) copied_ += 1;
  lost_total_ += lost;
  empty_since_ns_ = 0;
  starved_now_ = false;
  return r;
}

bool StreamState::RefillLocked(int64_t now, bool* gone) {
  bool notify = false;
  while (!stopping_ && in_flight_ < config_.transfers && !free_.empty() && !device_->gone()) {
    if (retry_at_ns_ != 0) break;  // backing off: RetryDue refills
    if (now == 0) now = MonotonicNs();
    int index = free_.Pop();
    Slot& slot = slots_[index];
    int r = SubmitLocked(slot, now);
    if (r == LIBUSB_SUCCESS) continue;
    // Tell JavaScript through an ordinary (failed) completion, so the slot stays accounted for.
    slot.status = r == LIBUSB_ERROR_NO_DEVICE ? LIBUSB_TRANSFER_NO_DEVICE : LIBUSB_TRANSFER_ERROR;
    slot.actual_length = 0;
    slot.lost_at_submit = 0;
    if (config_.iso()) {
      auto* status = reinterpret_cast<int32_t*>(block_->data + status_offset(index));
      auto* length = reinterpret_cast<int32_t*>(block_->data + length_offset(index));
      for (int i = 0; i < config_.packets; i++) {
        status[i] = slot.status;
        length[i] = 0;
      }
    }
    slot.completed_at_ns = now;
    slot.urgent = true;
    if (r == LIBUSB_ERROR_NO_DEVICE && in_flight_ > 0) {
      // Transfers the device completed before it left may still be waiting to be reaped: they go first.
      gone_slot_ = index;
      gone_deferred_ += 1;
      *gone = true;
      break;
    }
    if (r != LIBUSB_ERROR_NO_DEVICE) FailureLocked(slot, now);
    ReadyLocked(slot);
    notify |= WakeLocked(true, now);
    if (r == LIBUSB_ERROR_NO_DEVICE) {
      *gone = true;  // the caller marks the device gone, after telling JavaScript of this completion
      break;
    }
  }
  if (in_flight_ == 0 && empty_since_ns_ == 0 && !stopping_) {
    empty_since_ns_ = now != 0 ? now : MonotonicNs();
    if (free_.empty()) {
      starved_now_ = true;
      starved_ += 1;
    }
  }
  int free_count = static_cast<int>(free_.size());
  if (free_count < free_low_) free_low_ = free_count;
  return notify;
}

void StreamState::ReadyLocked(Slot& slot) {
  slot.state = SlotState::kReady;
  ready_[(ready_head_ + ready_count_) % ready_.size()] = slot.index;
  ready_count_++;
}

bool StreamState::SparesLowLocked() const {
  // Half of the spares may wait untold at most (with no spares, nothing waits): the bus never waits for a
  // completion JavaScript was not told of.
  return static_cast<int>(free_.size()) <= config_.spares / 2;
}

void StreamState::ArmBackstopLocked(int64_t due) {
  // iso needs no timer: its transfers complete every few milliseconds while it streams (with data or without),
  // and each completion checks the deadline (WakeLocked). A pending task would cost the event loop two clock
  // reads and two locks per pass. Bulk and interrupt transfers may not complete for a long time.
  if (config_.iso()) return;
  if (backstop_armed_) return;  // BackstopDue re-arms for a later deadline
  backstop_armed_ = true;
  std::weak_ptr<StreamState> weak = weak_from_this();
  device_->usb()->RunAt(due, [weak] {
    if (auto self = weak.lock()) self->BackstopDue();
  });
}

bool StreamState::WakeLocked(bool urgent, int64_t now) {
  if (ready_count_ == 0) return false;
  bool overdue = untold_since_ns_ != 0 && now - untold_since_ns_ >= config_.wake_after_ns;
  bool defer = config_.wake_on == WakeOn::kUvcFrame && !urgent && !overdue && !SparesLowLocked();
  if (notice_pending_) {
    // The pending notice covers this one, unless TakeReady leaves it behind as part of a frame still open: then it
    // waits untold, and this deadline (set here, on the event thread, where arming costs no system call) holds.
    if (defer) ArmBackstopLocked(now + config_.wake_after_ns);
    return false;
  }
  if (defer) {
    if (untold_since_ns_ == 0) untold_since_ns_ = now;
    ArmBackstopLocked(untold_since_ns_ + config_.wake_after_ns);
    return false;
  }
  notice_pending_ = true;
  untold_since_ns_ = 0;
  notices_ += 1;
  return true;
}

void StreamState::BackstopDue() {
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    backstop_armed_ = false;
    if (stopping_ || ready_count_ == 0) return;
    int64_t now = MonotonicNs();
    if (notice_pending_) {
      // JavaScript is about to take what is ready, and may leave the start of a frame behind: watch that.
      ArmBackstopLocked(now + config_.wake_after_ns);
      return;
    }
    if (untold_since_ns_ == 0) return;
    int64_t due = untold_since_ns_ + config_.wake_after_ns;
    if (now < due) {
      ArmBackstopLocked(due);  // told since this was armed; a later completion waits now, with its own deadline
      return;
    }
    notify = WakeLocked(true, now);
  }
  if (notify && observer_) observer_->CompletionsReady();
}

void StreamState::WakeNow() {
  bool notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    notify = WakeLocked(true, MonotonicNs());
  }
  if (notify && observer_) observer_->CompletionsReady();
}

bool StreamState::FrameEdgeLocked(const Slot& slot) {
  // Only the payload header's first two bytes: bLength, then bmHeaderInfo (bit 0 FID, bit 1 EOF, bit 6 ERR).
  constexpr uint8_t kFid = 0x01, kEof = 0x02, kErr = 0x40;
  bool edge = false;
  auto flags_at = [&](const uint8_t* p, int length) {
    if (length < 2 || p[0] < 2 || p[0] > length) return -1;  // no header here
    return static_cast<int>(p[1]);
  };
  auto note_fid = [&](int flags) {
    int fid = flags & kFid;
    if (fid != last_fid_) {
      // A toggle ends the frame before it, unless its EOF did already (JavaScript was woken for that one; a
      // frame that ends exactly at a transfer's end would otherwise wake it twice).
      if (last_fid_ >= 0 && !fid_ended_) edge = true;
      fid_ended_ = false;
    }
    last_fid_ = fid;
  };
  const uint8_t* data = slot_data(slot.index);
  if (config_.iso()) {
    // Every packet starts a payload.
    auto* status = reinterpret_cast<const int32_t*>(block_->data + status_offset(slot.index));
    auto* length = reinterpret_cast<const int32_t*>(block_->data + length_offset(slot.index));
    for (int i = 0; i < config_.packets; i++) {
      if (status[i] != LIBUSB_TRANSFER_COMPLETED) {
        edge = true;  // a damaged packet: the assembler decides what it means for the frame
        continue;
      }
      int flags = flags_at(data + static_cast<size_t>(i) * config_.packet_size, length[i]);
      if (flags < 0) continue;
      if (flags & (kEof | kErr)) edge = true;
      note_fid(flags);
      if (flags & kEof) fid_ended_ = true;
    }
    return edge;
  }
  // Bulk: a payload starts a transfer, and may go on over the following full-size ones (their first bytes are
  // data, read here as a header now and then: a needless wake-up, never a missed one). The frame's end is where
  // the payload whose header says EOF ends: at a short transfer (or the next payload's FID toggle).
  int flags = flags_at(data, slot.actual_length);
  if (flags >= 0) {
    if (flags & kErr) edge = true;
    if (flags & kEof) bulk_eof_pending_ = true;
    note_fid(flags);
  }
  if (bulk_eof_pending_ && slot.actual_length < config_.transfer_size) {
    bulk_eof_pending_ = false;
    fid_ended_ = true;
    edge = true;
  }
  return edge;
}

bool StreamState::FailureLocked(Slot& slot, int64_t now) {
  failures_total_ += 1;
  if (++consecutive_failures_ >= FailureLimit(config_.transfers)) {
    slot.final = true;
    gave_up_ = true;
    StopLocked();
    return true;
  }
  retry_at_ns_ = now + BackoffNs(consecutive_failures_);
  std::weak_ptr<StreamState> weak = weak_from_this();
  device_->usb()->RunAt(retry_at_ns_, [weak] {
    if (auto self = weak.lock()) self->RetryDue();
  });
  return false;
}

void StreamState::RetryDue() {
  bool notify;
  bool gone = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t now = MonotonicNs();
    // A later failure may have pushed the retry back (its own task comes then).
    if (retry_at_ns_ == 0 || now < retry_at_ns_) return;
    retry_at_ns_ = 0;
    notify = RefillLocked(now, &gone);
  }
  Notify(notify, false, gone);
}

OpResult StreamState::Start() {
  int failure = LIBUSB_SUCCESS;
  bool drained;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return OpResult::Fail("EBADF", "cannot start the stream: the device was closed");
    int64_t now = MonotonicNs();
    for (int i = 0; i < config_.transfers; i++) {
      int index = free_.Pop();
      failure = SubmitLocked(slots_[index], now);
      if (failure != LIBUSB_SUCCESS) {
        free_.Push(index);
        break;
      }
    }
    if (failure == LIBUSB_SUCCESS) return OpResult::Ok();
    StopLocked();
    drained = DrainedLocked();
  }
  if (failure == LIBUSB_ERROR_NO_DEVICE) device_->MarkGone();
  if (drained) Drained();
  char ep[8];
  snprintf(ep, sizeof ep, "0x%02x", config_.endpoint);
  OpResult result = OpResult::Libusb(failure, std::string("cannot start the stream on endpoint ") + ep);
  if (failure == LIBUSB_ERROR_NO_MEM) {
    result.message += " (Linux limits the memory of all USB transfers in flight: /sys/module/usbcore/parameters/"
                      "usbfs_memory_mb, 16 MB by default; use fewer or smaller transfers)";
  }
  return result;
}

void LIBUSB_CALL StreamState::OnTransfer(libusb_transfer* transfer) {
  Slot* slot = static_cast<Slot*>(transfer->user_data);
  // The stream may otherwise be freed by the JavaScript thread as soon as it has drained.
  std::shared_ptr<StreamState> self = slot->stream->shared_from_this();
  int64_t now = MonotonicNs();
  bool notify = false;
  bool drained = false;
  bool gone = transfer->status == LIBUSB_TRANSFER_NO_DEVICE;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    self->in_flight_--;
    slot->state = SlotState::kFree;  // neither in flight nor on the free list until decided below
    if (self->stopping_) {
      self->free_.Push(slot->index);
      drained = self->DrainedLocked();
    } else {
      const StreamConfig& config = self->config_;
      slot->status = transfer->status;
      if (config.iso()) {
        auto* status = reinterpret_cast<int32_t*>(self->block_->data + self->status_offset(slot->index));
        auto* length = reinterpret_cast<int32_t*>(self->block_->data + self->length_offset(slot->index));
        int total = 0;
        for (int i = 0; i < config.packets; i++) {
          const libusb_iso_packet_descriptor& packet = transfer->iso_packet_desc[i];
          status[i] = packet.status;
          length[i] = static_cast<int32_t>(packet.actual_length);
          total += static_cast<int>(packet.actual_length);
        }
        slot->actual_length = total;
      } else {
        slot->actual_length = transfer->actual_length;
      }
      slot->completed_at_ns = now;
      bool gave_up = false;
      if (gone) {
        // Nothing more is submitted; JavaScript learns from this completion, then from the device.
      } else if (IsFailure(transfer->status)) {
        gave_up = self->FailureLocked(*slot, now);
      } else {
        self->consecutive_failures_ = 0;
      }
      // Whatever is not plain data wakes JavaScript at once, in either mode.
      bool urgent = transfer->status != LIBUSB_TRANSFER_COMPLETED || gave_up || self->device_->gone();
      if (config.wake_on == WakeOn::kUvcFrame && self->FrameEdgeLocked(*slot)) urgent = true;
      slot->urgent = urgent || gone;
      // A spare goes out before the completed one is handed on: the bus does not wait for JavaScript.
      self->ReadyLocked(*slot);
      if (!gone && !gave_up) {
        if (self->RefillLocked(now, &gone)) notify = true;
      } else if (self->in_flight_ == 0 && self->empty_since_ns_ == 0) {
        self->empty_since_ns_ = now;
      }
      // The last transfer from before the unplug is back: now the refused resubmit's NO_DEVICE may follow.
      bool gone_told = false;
      if (self->in_flight_ == 0 && self->gone_slot_ >= 0) {
        self->ReadyLocked(self->slots_[self->gone_slot_]);
        self->gone_slot_ = -1;
        gone_told = true;
      }
      // After the refill: the free slots left decide whether a plain completion may wait.
      if (self->WakeLocked(urgent || gone || gone_told, now)) notify = true;
      drained = self->DrainedLocked();
    }
  }
  self->Notify(notify, drained, gone);
  self->device_->TransferReturned();
}

void StreamState::Notify(bool ready, bool drained, bool gone) {
  // Order matters: the completions first, then (through the device) the disconnect, then the drained notice.
  if (ready && observer_) observer_->CompletionsReady();
  if (gone) device_->MarkGone();
  if (drained) Drained();
}

bool StreamState::ReleaseLocked(int index) {
  if (index < 0 || index >= static_cast<int>(slots_.size())) return false;
  Slot& slot = slots_[index];
  if (slot.state != SlotState::kHeld) return false;  // released twice, or the stream stopped meanwhile
  held_--;
  slot.state = SlotState::kFree;
  free_.Push(index);
  return true;
}

void StreamState::ReleaseList(int count) {
  if (count < 0 || count > static_cast<int>(slots_.size())) return;
  const auto* list = reinterpret_cast<const int32_t*>(block_->data + release_list_offset());
  bool notify;
  bool gone = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool any = false;
    for (int i = 0; i < count; i++) any |= ReleaseLocked(list[i]);
    if (!any || stopping_ || device_->gone()) return;
    notify = RefillLocked(0, &gone);  // the clock only if something is submitted (see Release)
  }
  Notify(notify, false, gone);
}

void StreamState::Release(int index) {
  bool notify;
  bool gone = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ReleaseLocked(index)) return;
    if (stopping_ || device_->gone()) return;
    // The clock only if something is submitted: the event thread has usually refilled already, and a clock read
    // can be a system call (clocksource hpet, as in the kernel rig's guest).
    notify = RefillLocked(0, &gone);
  }
  Notify(notify, false, gone);
}

int StreamState::TakeReady(int max, bool* more) {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  auto* batch = reinterpret_cast<int32_t*>(block_->data + batch_base_);
  // Gone: everything now, in this call. The disconnect notice may be queued behind this one already, and a
  // second call would come after it (it is posted at the end of the queue).
  bool gone = device_->gone();
  if (gone) max = static_cast<int>(slots_.size());
  while (ready_count_ > 0 && n < max) {
    int index = ready_[ready_head_];
    ready_head_ = (ready_head_ + 1) % ready_.size();
    ready_count_--;
    Slot& slot = slots_[index];
    if (slot.state != SlotState::kReady) continue;  // dropped by a stop meanwhile
    if (stopping_ && !slot.final && !gave_up_) continue;
    slot.state = SlotState::kHeld;
    held_++;
    auto* record = reinterpret_cast<double*>(block_->data + record_offset(index));
    record[kRecordStatus] = slot.status;
    record[kRecordActualLength] = slot.actual_length;
    record[kRecordPacketCount] = config_.iso() ? config_.packets : 0;
    record[kRecordLostIntervals] = slot.lost_at_submit;
    record[kRecordCompletedAtNs] = static_cast<double>(slot.completed_at_ns);
    record[kRecordSequence] = completed_;
    record[kRecordFinal] = slot.final ? 1 : 0;
    completed_ += 1;
    batch[n++] = index;
    if (slot.urgent && config_.wake_on == WakeOn::kUvcFrame && !gone) break;  // one frame per call
  }
  // More left: the caller asks again with a new notice; none left: the next completion sends one.
  *more = ready_count_ > 0;
  if (*more && config_.wake_on == WakeOn::kUvcFrame && !SparesLowLocked()) {
    // What is left is told now only if it holds another edge; else it waits (its backstop was armed as it came).
    bool edge = false;
    int64_t oldest = 0;
    for (size_t i = 0; i < ready_count_ && !edge; i++) {
      const Slot& waiting = slots_[ready_[(ready_head_ + i) % ready_.size()]];
      if (waiting.state != SlotState::kReady) continue;
      if (oldest == 0) oldest = waiting.completed_at_ns;
      edge = waiting.urgent;
    }
    if (!edge) {
      *more = false;
      untold_since_ns_ = oldest;
    }
  }
  notice_pending_ = *more;
  return n;
}

void StreamState::StopLocked() {
  stopping_ = true;
  if (gone_slot_ >= 0) {
    free_.Push(gone_slot_);  // its unplug notice is moot: the stream is stopping
    gone_slot_ = -1;
  }
  for (Slot& slot : slots_) {
    switch (slot.state) {
      case SlotState::kInFlight:
        libusb_cancel_transfer(slot.transfer);  // comes back through OnTransfer, cancelled or completed
        break;
      case SlotState::kHeld:
        held_--;
        slot.state = SlotState::kFree;
        free_.Push(slot.index);
        break;
      case SlotState::kReady:
        // The failure that stopped the stream is still told, and when the engine gave up, so are the completions
        // that came before it and wait for JavaScript: it learns of every failure, in order, then of the last.
        if (slot.final || gave_up_) break;
        slot.state = SlotState::kFree;  // its entry in ready_ is skipped
        free_.Push(slot.index);
        break;
      case SlotState::kFree:
        break;
    }
  }
}

void StreamState::BeginStop() {
  bool drained;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    StopLocked();
    drained = DrainedLocked();
  }
  if (drained) Drained();
}

void StreamState::Abandon() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (drained_) return;
    stopping_ = true;
    drained_ = true;
    abandoned_ = true;
  }
  // Still owned by the (leaked) device: its memory stays for transfers that may yet come back.
  if (observer_) observer_->Drained();
}

bool StreamState::DrainedLocked() {
  if (!stopping_ || in_flight_ != 0 || drained_) return false;
  drained_ = true;
  return true;
}

void StreamState::Drained() {
  device_->RemoveStream(this);
  if (observer_) observer_->Drained();
}

StreamStats StreamState::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  StreamStats stats;
  stats.completed = completed_;
  stats.in_flight = in_flight_;
  stats.held = held_;
  stats.lost_intervals = lost_total_;
  stats.spares_free = static_cast<int>(free_.size());
  stats.spares_low = free_low_;
  stats.starved = starved_;
  stats.failures = failures_total_;
  stats.gone_deferred = gone_deferred_;
  stats.notices = notices_;
  stats.zero_copy = !block_->mapped.empty();
  stats.zero_copy_slots = static_cast<int>(block_->mapped.size());
  stats.copied = copied_;
  return stats;
}

}  // namespace uvc
