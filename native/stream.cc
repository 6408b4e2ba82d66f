#include "stream.h"

#include <time.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "bridge.h"
#include "stream_wrap.h"

namespace uvc {

std::atomic<int> StreamState::live_count_{0};
std::atomic<int> Block::live_count{0};

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
  if (data != nullptr) {
    free(data);
    live_count--;
  }
}

namespace {

class CompletionMessage : public Message {
 public:
  CompletionMessage(std::shared_ptr<StreamState> stream, int slot) : stream_(std::move(stream)), slot_(slot) {}
  void Deliver(Napi::Env env) override {
    Completion completion;
    if (!stream_->TakeCompletion(slot_, &completion)) return;
    if (stream_->wrap != nullptr) stream_->wrap->Dispatch(env, completion);
  }

 private:
  std::shared_ptr<StreamState> stream_;
  int slot_;
};

class DrainedMessage : public Message {
 public:
  explicit DrainedMessage(std::shared_ptr<StreamState> stream) : stream_(std::move(stream)) {}
  void Deliver(Napi::Env env) override {
    if (stream_->wrap != nullptr) stream_->wrap->OnDrained(env);
  }

 private:
  std::shared_ptr<StreamState> stream_;
};

}  // namespace

StreamState::StreamState(std::shared_ptr<DeviceState> device, const StreamConfig& config)
    : device_(std::move(device)), config_(config) {
  live_count_++;
}

StreamState::~StreamState() {
  // Only reached once drained (a stream with transfers in flight is owned by its device until it drains).
  for (Slot& slot : slots_) {
    if (slot.transfer != nullptr) libusb_free_transfer(slot.transfer);
  }
  live_count_--;
}

size_t StreamState::status_offset(int slot) const {
  return meta_base_ + static_cast<size_t>(slot) * 8 * config_.packets;
}

size_t StreamState::length_offset(int slot) const { return status_offset(slot) + 4 * static_cast<size_t>(config_.packets); }

bool StreamState::Allocate() {
  size_t data_bytes = config_.data_bytes();
  data_stride_ = (data_bytes + 63) & ~size_t{63};
  meta_base_ = data_stride_ * config_.transfers;
  size_t meta = config_.iso() ? 8 * static_cast<size_t>(config_.packets) : 0;
  block_ = std::make_shared<Block>(meta_base_ + meta * config_.transfers);
  if (block_->data == nullptr) return false;

  slots_.resize(config_.transfers);  // never resized again: transfers point at their slot
  for (int i = 0; i < config_.transfers; i++) {
    Slot& slot = slots_[i];
    slot.stream = this;
    slot.index = i;
    slot.transfer = libusb_alloc_transfer(config_.iso() ? config_.packets : 0);
    if (slot.transfer == nullptr) return false;
    unsigned char* buffer = block_->data + data_offset(i);
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
  return true;
}

int StreamState::SubmitLocked(Slot& slot, double lost) {
  slot.lost_at_submit = lost;
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
  int r = device_->Note(libusb_submit_transfer(slot.transfer));
  if (r != LIBUSB_SUCCESS) {
    slot.state = SlotState::kIdle;
    if (--in_flight_ == 0) empty_since_ns_ = MonotonicNs();
    device_->TransferReturned();
  }
  return r;
}

OpResult StreamState::Start() {
  int failure = LIBUSB_SUCCESS;
  bool drained;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return OpResult::Fail("EBADF", "cannot start the stream: the device was closed");
    for (Slot& slot : slots_) {
      failure = SubmitLocked(slot, 0);
      if (failure != LIBUSB_SUCCESS) break;
    }
    if (failure == LIBUSB_SUCCESS) return OpResult::Ok();
    stopping_ = true;
    for (Slot& slot : slots_) {
      if (slot.state == SlotState::kInFlight) libusb_cancel_transfer(slot.transfer);
    }
    drained = DrainedLocked();
  }
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
  bool post = false;
  bool drained = false;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    if (--self->in_flight_ == 0) self->empty_since_ns_ = now;
    if (self->stopping_) {
      slot->state = SlotState::kIdle;
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
      slot->state = SlotState::kDelivering;
      post = true;
    }
  }
  if (transfer->status == LIBUSB_TRANSFER_NO_DEVICE) self->device_->MarkGone();
  if (post) self->device_->bridge()->Post(std::make_unique<CompletionMessage>(self, slot->index));
  if (drained) self->Drained();
  self->device_->TransferReturned();
}

void StreamState::FailLocked(Slot& slot, int libusb_error, int64_t now) {
  // Tell JavaScript through an ordinary (failed) completion, so the slot stays accounted for.
  slot.status = libusb_error == LIBUSB_ERROR_NO_DEVICE ? LIBUSB_TRANSFER_NO_DEVICE : LIBUSB_TRANSFER_ERROR;
  slot.actual_length = 0;
  if (config_.iso()) {
    auto* status = reinterpret_cast<int32_t*>(block_->data + status_offset(slot.index));
    auto* length = reinterpret_cast<int32_t*>(block_->data + length_offset(slot.index));
    for (int i = 0; i < config_.packets; i++) {
      status[i] = slot.status;
      length[i] = 0;
    }
  }
  slot.completed_at_ns = now;
  slot.state = SlotState::kDelivering;
  device_->bridge()->Post(std::make_unique<CompletionMessage>(shared_from_this(), slot.index));
}

void StreamState::Release(int index) {
  if (index < 0 || index >= static_cast<int>(slots_.size())) return;
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = slots_[index];
  if (slot.state != SlotState::kHeld) return;  // released twice, or the stream stopped meanwhile
  held_--;
  if (stopping_ || device_->gone()) {
    slot.state = SlotState::kIdle;
    return;
  }
  int64_t now = MonotonicNs();
  double lost = 0;
  if (in_flight_ == 0) {
    // JavaScript held every transfer: whatever the device sent since the last one came back is lost.
    lost = std::floor(static_cast<double>(now - empty_since_ns_) / static_cast<double>(config_.interval_ns));
    lost_total_ += lost;
  }
  int r = SubmitLocked(slot, lost);
  if (r != LIBUSB_SUCCESS) FailLocked(slot, r, now);
}

bool StreamState::TakeCompletion(int index, Completion* out) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = slots_[index];
  if (stopping_ || slot.state != SlotState::kDelivering) return false;
  slot.state = SlotState::kHeld;
  held_++;
  out->slot = index;
  out->status = slot.status;
  out->actual_length = slot.actual_length;
  out->packet_count = config_.iso() ? config_.packets : 0;
  out->lost_intervals = slot.lost_at_submit;
  out->completed_at_ns = static_cast<double>(slot.completed_at_ns);
  out->sequence = completed_;
  completed_ += 1;
  return true;
}

void StreamState::BeginStop() {
  bool drained;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (Slot& slot : slots_) {
      switch (slot.state) {
        case SlotState::kInFlight:
          libusb_cancel_transfer(slot.transfer);  // comes back through OnTransfer, cancelled or completed
          break;
        case SlotState::kHeld:
          held_--;
          slot.state = SlotState::kIdle;
          break;
        case SlotState::kDelivering:
          slot.state = SlotState::kIdle;  // its message finds the stream stopping and is dropped
          break;
        case SlotState::kIdle:
          break;
      }
    }
    drained = DrainedLocked();
  }
  if (drained) Drained();
}

bool StreamState::DrainedLocked() {
  if (!stopping_ || in_flight_ != 0 || drained_) return false;
  drained_ = true;
  return true;
}

void StreamState::Drained() {
  device_->RemoveStream(this);
  device_->bridge()->Post(std::make_unique<DrainedMessage>(shared_from_this()));
}

StreamStats StreamState::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  StreamStats stats;
  stats.completed = completed_;
  stats.in_flight = in_flight_;
  stats.held = held_;
  stats.lost_intervals = lost_total_;
  return stats;
}

}  // namespace uvc
