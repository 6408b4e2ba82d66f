// The way back to JavaScript. Native threads (libusb's event thread, the thread pool, the closer) never touch
// JavaScript: they post Messages, which run later on the JavaScript thread of their environment.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace uvc {

class DeviceState;

class Message {
 public:
  virtual ~Message() = default;
  // Runs on the JavaScript thread. Never runs if the environment went away first (then it is only destroyed).
  virtual void Deliver(Napi::Env env) = 0;
};

// One per Node.js environment (the main thread, each worker thread): owns the thread-safe function messages
// travel through, keeps the event loop alive while work is pending, and closes the environment's devices when it
// is torn down.
class EnvBridge : public std::enable_shared_from_this<EnvBridge> {
 public:
  static std::shared_ptr<EnvBridge> Create(Napi::Env env);

  // Any thread. False (and the message is destroyed) once the environment is going away or the process exits.
  bool Post(std::unique_ptr<Message> message);

  // JavaScript thread: while holds are > 0 the event loop stays alive (a running stream, a pending transfer).
  void Hold();
  void Unhold();

  // Any thread: the devices to close at teardown.
  void Adopt(const std::shared_ptr<DeviceState>& device);

  // JavaScript thread, from the environment's cleanup hook: stop posting, close every device (cancelling and
  // draining their transfers).
  void Teardown();

  // Set when the process starts exiting (atexit): from then on nothing is posted anywhere.
  static std::atomic<bool> process_exiting;

 private:
  static void CallJs(napi_env env, napi_value callback, void* context, void* data);
  static void Finalize(napi_env env, void* data, void* hint);

  std::mutex mu_;
  bool accepting_ = true;
  napi_env env_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;
  int holds_ = 0;
  std::vector<std::weak_ptr<DeviceState>> devices_;
};

}  // namespace uvc
