// The one libusb context of the process and the one thread that handles its events. Every transfer callback
// runs on that thread. Also: disconnect detection (hotplug), closing devices whose JavaScript handle was
// garbage-collected, and a clean shutdown when the process exits.
#pragma once

#include <libusb.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace uvc {

class DeviceState;

class UsbContext {
 public:
  // Initializes libusb and starts the event thread on first use; thread-safe. Returns nullptr and sets `error`
  // (a libusb error code) if libusb cannot start.
  static UsbContext* Get(int* error);

  libusb_context* ctx() const { return ctx_; }
  bool has_hotplug() const { return hotplug_registered_; }

  // Devices open in this process: for disconnect detection and for closing at exit.
  void Track(const std::shared_ptr<DeviceState>& device);
  void Untrack(const DeviceState* device);

  // Closes a device on a background thread (its JavaScript handle was collected without close()).
  void CloseInBackground(std::shared_ptr<DeviceState> device);

  // Devices that could not be drained: kept forever rather than freed under the kernel's feet.
  void Leak(std::shared_ptr<DeviceState> device);

  // Runs `task` on the event thread at `at_ns` (CLOCK_MONOTONIC) or soon after: stream retry backoff, the bound
  // on a disconnect waiting for transfers, a stream's wake-up backstop. Any thread.
  void RunAt(int64_t at_ns, std::function<void()> task);

 private:
  UsbContext() = default;
  void EventLoop();
  void RunDueTasks();
  struct Task {
    int64_t at_ns;
    std::function<void()> run;
  };
  void CloserLoop();
  void Shutdown();
  static void AtExit();
  static int LIBUSB_CALL OnHotplug(libusb_context* ctx, libusb_device* device, libusb_hotplug_event event,
                                   void* user_data);

  libusb_context* ctx_ = nullptr;
  std::thread events_;
  std::atomic<bool> stop_events_{false};
  bool hotplug_registered_ = false;
  libusb_hotplug_callback_handle hotplug_ = 0;

  std::mutex mu_;
  std::vector<std::weak_ptr<DeviceState>> devices_;
  std::vector<std::shared_ptr<DeviceState>> leaked_;

  std::mutex tasks_mu_;
  std::vector<Task> tasks_;
  std::vector<std::function<void()>> due_;  // event thread only: the tasks being run (kept to reuse its memory)

  std::mutex closer_mu_;
  std::condition_variable closer_cv_;
  std::deque<std::shared_ptr<DeviceState>> closer_queue_;
  std::thread closer_;
  bool closer_stop_ = false;
};

}  // namespace uvc
