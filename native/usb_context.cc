#include "usb_context.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>

#include "bridge.h"
#include "device.h"
#include "stream.h"

namespace uvc {

namespace {
// Heap-allocated and never destroyed: static destructors run at exit while other threads may still use them.
std::mutex* g_init_mu = new std::mutex();
UsbContext* g_context = nullptr;
// True on the event thread: RunAt from there needs no wake-up (the loop recomputes its wait before it blocks).
thread_local bool on_event_thread = false;
// How long exit waits for a device's cancelled transfers (the kernel returns them within milliseconds).
constexpr auto kExitDrain = std::chrono::milliseconds(2000);
constexpr auto kBackgroundDrain = std::chrono::milliseconds(5000);
}  // namespace

UsbContext* UsbContext::Get(int* error) {
  std::lock_guard<std::mutex> lock(*g_init_mu);
  if (g_context != nullptr) return g_context;
  if (EnvBridge::process_exiting.load()) {
    *error = LIBUSB_ERROR_OTHER;
    return nullptr;
  }
  libusb_context* ctx = nullptr;
  int r = libusb_init_context(&ctx, nullptr, 0);
  if (r != LIBUSB_SUCCESS) {
    *error = r;
    return nullptr;
  }
  auto* context = new UsbContext();
  context->ctx_ = ctx;
  if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
    r = libusb_hotplug_register_callback(ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, LIBUSB_HOTPLUG_NO_FLAGS,
                                         LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
                                         LIBUSB_HOTPLUG_MATCH_ANY, OnHotplug, context, &context->hotplug_);
    context->hotplug_registered_ = r == LIBUSB_SUCCESS;
  }
  context->events_ = std::thread([context] { context->EventLoop(); });
  g_context = context;
  // process.exit() skips environment cleanup hooks but runs atexit handlers: cancel, drain, close, join there.
  std::atexit(AtExit);
  return context;
}

void UsbContext::EventLoop() {
  pthread_setname_np(pthread_self(), "uvc-usb-events");
  on_event_thread = true;
  while (!stop_events_.load()) {
    int64_t wait_ns = 1000000000;
    {
      std::lock_guard<std::mutex> lock(tasks_mu_);
      if (!tasks_.empty()) {
        int64_t now = MonotonicNs();
        for (const Task& task : tasks_) wait_ns = std::max<int64_t>(0, std::min(wait_ns, task.at_ns - now));
      }
    }
    timeval timeout{static_cast<time_t>(wait_ns / 1000000000), static_cast<suseconds_t>((wait_ns % 1000000000) / 1000)};
    libusb_handle_events_timeout_completed(ctx_, &timeout, nullptr);
    RunDueTasks();
  }
}

void UsbContext::RunAt(int64_t at_ns, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    tasks_.push_back({at_ns, std::move(task)});
  }
  // Another thread: interrupt the wait so that it is recomputed. On the event thread (a transfer callback, a
  // task) it is recomputed anyway before the loop waits again, and an interruption would cost a system call and
  // an extra pass of libusb's event handling.
  if (!on_event_thread) libusb_interrupt_event_handler(ctx_);
}

void UsbContext::RunDueTasks() {
  std::vector<std::function<void()>>& due = due_;
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    if (tasks_.empty()) return;
    int64_t now = MonotonicNs();
    for (size_t i = 0; i < tasks_.size();) {
      if (tasks_[i].at_ns <= now) {
        due.push_back(std::move(tasks_[i].run));
        tasks_[i] = std::move(tasks_.back());
        tasks_.pop_back();
      } else {
        i++;
      }
    }
  }
  for (auto& run : due) run();
  due.clear();
}

int LIBUSB_CALL UsbContext::OnHotplug(libusb_context*, libusb_device* device, libusb_hotplug_event event,
                                      void* user_data) {
  if (event != LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT) return 0;
  auto* self = static_cast<UsbContext*>(user_data);
  std::vector<std::shared_ptr<DeviceState>> gone;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    for (auto& weak : self->devices_) {
      auto d = weak.lock();
      if (d && d->libusb_dev() == device) gone.push_back(d);
    }
  }
  for (auto& d : gone) d->MarkGone();
  return 0;  // stay registered
}

void UsbContext::Track(const std::shared_ptr<DeviceState>& device) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::weak_ptr<DeviceState>> alive;
  for (auto& weak : devices_) {
    if (!weak.expired()) alive.push_back(weak);
  }
  alive.push_back(device);
  devices_.swap(alive);
}

void UsbContext::Untrack(const DeviceState* device) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::weak_ptr<DeviceState>> rest;
  for (auto& weak : devices_) {
    auto d = weak.lock();
    if (d && d.get() != device) rest.push_back(weak);
  }
  devices_.swap(rest);
}

void UsbContext::Leak(std::shared_ptr<DeviceState> device) {
  std::lock_guard<std::mutex> lock(mu_);
  leaked_.push_back(std::move(device));
}

void UsbContext::CloseInBackground(std::shared_ptr<DeviceState> device) {
  std::lock_guard<std::mutex> lock(closer_mu_);
  if (closer_stop_) return;  // exiting: Shutdown closes every tracked device anyway
  closer_queue_.push_back(std::move(device));
  if (!closer_.joinable()) closer_ = std::thread([this] { CloserLoop(); });
  closer_cv_.notify_one();
}

void UsbContext::CloserLoop() {
  pthread_setname_np(pthread_self(), "uvc-usb-closer");
  std::unique_lock<std::mutex> lock(closer_mu_);
  for (;;) {
    closer_cv_.wait(lock, [this] { return closer_stop_ || !closer_queue_.empty(); });
    if (closer_queue_.empty()) return;  // stop requested and nothing left
    auto device = std::move(closer_queue_.front());
    closer_queue_.pop_front();
    lock.unlock();
    device->CloseBlocking(kBackgroundDrain);
    device.reset();
    lock.lock();
  }
}

void UsbContext::AtExit() {
  EnvBridge::process_exiting.store(true);
  UsbContext* context;
  {
    std::lock_guard<std::mutex> lock(*g_init_mu);
    context = g_context;
  }
  if (context != nullptr) context->Shutdown();
}

void UsbContext::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(closer_mu_);
    closer_stop_ = true;
    closer_cv_.notify_one();
  }
  if (closer_.joinable()) closer_.join();

  std::vector<std::shared_ptr<DeviceState>> open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& weak : devices_) {
      if (auto d = weak.lock()) open.push_back(d);
    }
  }
  // The event thread must still run here: it reaps the cancelled transfers that CloseBlocking waits for.
  for (auto& d : open) d->CloseBlocking(kExitDrain);
  open.clear();

  stop_events_.store(true);
  libusb_interrupt_event_handler(ctx_);
  if (events_.joinable()) events_.join();
  if (hotplug_registered_) libusb_hotplug_deregister_callback(ctx_, hotplug_);

  bool clean;
  {
    std::lock_guard<std::mutex> lock(mu_);
    clean = leaked_.empty() && DeviceState::live_count() == 0;
  }
  // Only when no native object still refers to libusb's; otherwise the kernel reclaims everything at exit.
  if (clean) libusb_exit(ctx_);
}

}  // namespace uvc
