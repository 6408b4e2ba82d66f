// One open device: the libusb handle and everything that must happen in order around it (claims, alt settings,
// streams, pending control transfers, disconnect, close). Native-only and thread-safe; DeviceWrap is its face in
// JavaScript, told of a disconnect through a DeviceObserver. Lives in a shared_ptr held by its wrap, its streams,
// its pending control transfers and workers (see stream.h for the ownership rule).
#pragma once

#include <libusb.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace uvc {

class EnvBridge;
class UsbContext;
class StreamState;
class ControlOp;

// Told (once, from any thread) that the device is gone; the wrapper posts it to JavaScript. Owned by the device.
class DeviceObserver {
 public:
  virtual ~DeviceObserver() = default;
  virtual void Disconnected() = 0;
};

// The outcome of a native operation: success, or a POSIX code with a message (and the libusb error, if any).
struct OpResult {
  const char* code = nullptr;  // nullptr: success
  std::string message;
  int libusb_error = 0;

  bool ok() const { return code == nullptr; }
  static OpResult Ok() { return {}; }
  static OpResult Fail(const char* code, std::string message) { return {code, std::move(message), 0}; }
  static OpResult Libusb(int error, const std::string& what);
};

struct OpenTarget {
  bool by_port = false;
  int bus = 0;
  int address = 0;                // by bus + address
  std::vector<uint8_t> ports;     // by port path: port numbers from the root hub
  std::string Describe() const;
};

struct DeviceIdentity {
  int bus = 0;
  int address = 0;
  std::string port_path;
  int vendor_id = 0;
  int product_id = 0;
  int speed = LIBUSB_SPEED_UNKNOWN;
  std::array<uint8_t, 18> device_descriptor{};
  int active_config_value = 0;   // 0: unconfigured
  int active_config_index = -1;  // index for GET_DESCRIPTOR(CONFIGURATION), -1 if unconfigured
};

struct EndpointInfo {
  int interface_number = -1;
  int transfer_type = 0;  // LIBUSB_ENDPOINT_TRANSFER_TYPE_*
  int max_packet_size = 0;
  int64_t interval_ns = 0;  // service interval: bus interval × the endpoint's bInterval rule
};

class DeviceState : public std::enable_shared_from_this<DeviceState> {
 public:
  enum class State { kOpen, kClosing, kClosed };

  // Thread pool: finds the device, opens it, reads its identity. On success `*out` is open and tracked.
  static OpResult Open(const OpenTarget& target, std::shared_ptr<EnvBridge> bridge,
                       std::shared_ptr<DeviceState>* out);

  ~DeviceState();

  const DeviceIdentity& identity() const { return identity_; }
  libusb_device* libusb_dev() const { return dev_; }
  libusb_device_handle* handle() const { return handle_; }
  const std::shared_ptr<EnvBridge>& bridge() const { return bridge_; }
  UsbContext* usb() const { return usb_; }
  // JavaScript thread, once the wrapper exists. A disconnect already waiting is told at once.
  void SetObserver(std::shared_ptr<DeviceObserver> observer);

  // Why a call cannot proceed: nullptr if open and present, else "EBADF" (close() was called) or "ENODEV".
  const char* Unusable() const;
  OpResult UnusableResult(const std::string& what) const;
  bool gone() const { return gone_.load(); }
  State state() const;

  // Any thread. The first call marks the device gone (nothing is submitted any more) and tells the observer once
  // every transfer of the device in flight has come back, so that JavaScript gets the completions that arrived
  // before the unplug first (libusb runs its hotplug "left" callback before it reaps the transfers finished in
  // the same pass); after kDisconnectWait at most. Later calls do nothing.
  void MarkGone();
  // Marks the device gone if a libusb call said LIBUSB_ERROR_NO_DEVICE.
  int Note(int libusb_result);

  // Blocking operations, for the thread pool; serialized with each other and with close.
  OpResult ClaimInterface(int interface_number);
  OpResult ReleaseInterface(int interface_number);
  OpResult SetAltSetting(int interface_number, int alt_setting);
  OpResult ClearHalt(int endpoint);

  // JavaScript thread: close() was called; new calls fail EBADF from now on.
  void MarkClosing();
  // Cancels every stream and control transfer, waits for them to come back (up to `drain`), releases the
  // claimed interfaces (re-attaching kernel drivers it detached) and closes the handle. Idempotent. Any thread
  // but libusb's event thread. If the transfers do not come back in time the device is leaked, never freed.
  void CloseBlocking(std::chrono::milliseconds drain);
  // Any thread: CloseBlocking on a background thread (the JavaScript handle was collected without close()).
  void CloseLater();

  // Stream engine support.
  OpResult FindEndpoint(int address, EndpointInfo* out) const;
  OpResult AddStream(const std::shared_ptr<StreamState>& stream, int endpoint, int interface_number);
  void RemoveStream(const StreamState* stream);
  bool AddControl(ControlOp* op);
  void RemoveControl(ControlOp* op);
  // Every libusb transfer of this device in flight is counted, so close can wait for all of them.
  void TransferSubmitted();
  void TransferReturned();
  // A submit that failed: as TransferReturned, for a caller that holds a stream's lock (the disconnect notice,
  // which first wakes the device's streams, is then told from the event thread).
  void TransferNotSubmitted();


  static int live_count() { return live_count_.load(); }

 private:
  // EINVAL unless the active configuration has the interface (and, when alt_setting >= 0, that alt setting).
  // Checked before libusb, which reports these as NOT_FOUND (ENOENT) where the UsbTransport contract says EINVAL.
  OpResult CheckInterface(int interface_number, int alt_setting, const std::string& what) const;
  DeviceState(std::shared_ptr<EnvBridge> bridge, UsbContext* usb, libusb_device* dev, libusb_device_handle* handle);
  bool InterfaceStreaming(int interface_number) const;  // mu_ held

  std::shared_ptr<EnvBridge> bridge_;
  UsbContext* usb_;
  libusb_device* dev_;
  libusb_device_handle* handle_;
  DeviceIdentity identity_;
  libusb_config_descriptor* config_ = nullptr;  // active configuration, parsed at open

  std::mutex ops_mu_;  // serializes blocking operations and close

  mutable std::mutex mu_;
  State state_ = State::kOpen;
  uint32_t claimed_ = 0;   // interface bit mask
  uint32_t detached_ = 0;  // interfaces whose kernel driver we detached (re-attached on release/close)
  std::array<uint8_t, 32> alt_{};
  struct StreamEntry {
    std::shared_ptr<StreamState> stream;
    int endpoint;
    int interface_number;
  };
  std::vector<StreamEntry> streams_;
  std::set<ControlOp*> controls_;

  std::atomic<bool> gone_{false};
  std::shared_ptr<DeviceObserver> observer_;  // mu_
  bool disconnect_waiting_ = false;           // drain_mu_: gone, not yet told (transfers still in flight)
  bool disconnect_told_ = false;              // drain_mu_
  void TellDisconnect();

  std::mutex drain_mu_;  // for the waits on in_flight_ reaching 0 (close, a waiting disconnect)
  std::condition_variable drain_cv_;
  std::atomic<int> in_flight_{0};  // counted without a lock: every submit and completion touches it

  static std::atomic<int> live_count_;
};

}  // namespace uvc
