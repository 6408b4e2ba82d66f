#include "bridge.h"

#include "device.h"

namespace uvc {

std::atomic<bool> EnvBridge::process_exiting{false};

namespace {
// How long teardown waits for cancelled transfers to come back before it gives up on a device (and leaks it
// rather than free memory the kernel may still write to).
constexpr auto kTeardownDrain = std::chrono::milliseconds(3000);
}  // namespace

std::shared_ptr<EnvBridge> EnvBridge::Create(Napi::Env env) {
  auto bridge = std::make_shared<EnvBridge>();
  bridge->env_ = env;
  // The thread-safe function owns a reference to the bridge until it is finalized, so CallJs can always use it.
  auto* context = new std::shared_ptr<EnvBridge>(bridge);
  napi_value name = Napi::String::New(env, "uvc-capture native transport");
  napi_status status = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0 /* unbounded queue */, 1,
                                                       context, Finalize, context, CallJs, &bridge->tsfn_);
  if (status != napi_ok) {
    delete context;
    NAPI_THROW_IF_FAILED(env, status, nullptr);
  }
  // Idle unless something is pending: an open but idle device does not keep the process alive.
  napi_unref_threadsafe_function(env, bridge->tsfn_);
  return bridge;
}

bool EnvBridge::Post(std::unique_ptr<Message> message) {
  if (process_exiting.load()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (!accepting_ || tsfn_ == nullptr) return false;
  // Non-blocking on an unbounded queue: the event thread never waits for JavaScript.
  if (napi_call_threadsafe_function(tsfn_, message.get(), napi_tsfn_nonblocking) != napi_ok) return false;
  message.release();
  return true;
}

void EnvBridge::CallJs(napi_env env, napi_value, void*, void* data) {
  std::unique_ptr<Message> message(static_cast<Message*>(data));
  if (env == nullptr || process_exiting.load()) return;  // environment gone: only free the message
  try {
    message->Deliver(Napi::Env(env));
  } catch (const Napi::Error& e) {
    // An exception thrown by JavaScript that a message called is an uncaught exception, as from any callback.
    // (Node-API would otherwise only warn about it, DEP0168, and carry on.)
    napi_fatal_exception(env, e.Value());
  }
}

void EnvBridge::Finalize(napi_env, void* data, void*) {
  auto* context = static_cast<std::shared_ptr<EnvBridge>*>(data);
  {
    std::lock_guard<std::mutex> lock((*context)->mu_);
    (*context)->accepting_ = false;
    (*context)->tsfn_ = nullptr;
  }
  delete context;
}

void EnvBridge::Hold() {
  std::lock_guard<std::mutex> lock(mu_);
  if (holds_++ == 0 && tsfn_ != nullptr) napi_ref_threadsafe_function(env_, tsfn_);
}

void EnvBridge::Unhold() {
  std::lock_guard<std::mutex> lock(mu_);
  if (holds_ > 0 && --holds_ == 0 && tsfn_ != nullptr) napi_unref_threadsafe_function(env_, tsfn_);
}

void EnvBridge::Adopt(const std::shared_ptr<DeviceState>& device) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::weak_ptr<DeviceState>> alive;
  for (auto& weak : devices_) {
    if (!weak.expired()) alive.push_back(weak);
  }
  alive.push_back(device);
  devices_.swap(alive);
}

void EnvBridge::Teardown() {
  std::vector<std::shared_ptr<DeviceState>> devices;
  {
    std::lock_guard<std::mutex> lock(mu_);
    accepting_ = false;
    for (auto& weak : devices_) {
      if (auto device = weak.lock()) devices.push_back(device);
    }
    devices_.clear();
  }
  for (auto& device : devices) device->CloseBlocking(kTeardownDrain);
}

}  // namespace uvc
