#include "device.h"

#include <unistd.h>

#include <cstdio>

#include "bridge.h"
#include "control.h"
#include "errors.h"
#include "stream.h"
#include "usb_context.h"

namespace uvc {

std::atomic<int> DeviceState::live_count_{0};

namespace {

std::string Hex(int value, int digits) {
  char buf[16];
  snprintf(buf, sizeof buf, "0x%0*x", digits, value);
  return buf;
}

// Longest a disconnect waits for the device's transfers to come back before it is told anyway. usbfs kills every
// URB of a disconnected device at once, so this is only a bound.
constexpr int64_t kDisconnectWaitNs = 2000000000;

int64_t BusIntervalNs(int speed) {
  return (speed == LIBUSB_SPEED_LOW || speed == LIBUSB_SPEED_FULL) ? 1000000 : 125000;
}

// The endpoint's service interval in bus intervals (USB 2.0 §9.6.6, USB 3.2 §9.6.6).
int64_t IntervalUnits(int transfer_type, int b_interval, int speed) {
  bool frames = speed == LIBUSB_SPEED_LOW || speed == LIBUSB_SPEED_FULL;
  int exponent = b_interval < 1 ? 1 : (b_interval > 16 ? 16 : b_interval);
  switch (transfer_type) {
    case LIBUSB_ENDPOINT_TRANSFER_TYPE_ISOCHRONOUS:
      return int64_t{1} << (exponent - 1);
    case LIBUSB_ENDPOINT_TRANSFER_TYPE_INTERRUPT:
      if (frames) return b_interval < 1 ? 1 : b_interval;
      return int64_t{1} << (exponent - 1);
    default:
      return 1;  // bulk: no service interval; count bus intervals
  }
}

}  // namespace

OpResult OpResult::Libusb(int error, const std::string& what) {
  OpResult r;
  r.code = CodeOfLibusbError(error);
  r.message = what + ": " + libusb_strerror(error);
  r.libusb_error = error;
  return r;
}

std::string OpenTarget::Describe() const {
  if (!by_port) return "bus " + std::to_string(bus) + " address " + std::to_string(address);
  std::string path = std::to_string(bus) + "-";
  if (ports.empty()) path += "0";
  for (size_t i = 0; i < ports.size(); i++) path += (i ? "." : "") + std::to_string(ports[i]);
  return "port " + path;
}

DeviceState::DeviceState(std::shared_ptr<EnvBridge> bridge, UsbContext* usb, libusb_device* dev,
                         libusb_device_handle* handle)
    : bridge_(std::move(bridge)), usb_(usb), dev_(dev), handle_(handle) {
  live_count_++;
}

DeviceState::~DeviceState() {
  // Normally closed by now. If not, and nothing is in flight, closing here is safe (even on the event thread).
  if (state_ != State::kClosed && in_flight_ == 0) libusb_close(handle_);
  if (config_ != nullptr) libusb_free_config_descriptor(config_);
  libusb_unref_device(dev_);
  live_count_--;
}

OpResult DeviceState::Open(const OpenTarget& target, std::shared_ptr<EnvBridge> bridge,
                           std::shared_ptr<DeviceState>* out) {
  int error = 0;
  UsbContext* usb = UsbContext::Get(&error);
  if (usb == nullptr) return OpResult::Libusb(error, "cannot initialize libusb");

  libusb_device** list = nullptr;
  ssize_t count = libusb_get_device_list(usb->ctx(), &list);
  if (count < 0) return OpResult::Libusb(static_cast<int>(count), "cannot list USB devices");
  libusb_device* found = nullptr;
  for (ssize_t i = 0; i < count && found == nullptr; i++) {
    libusb_device* d = list[i];
    if (libusb_get_bus_number(d) != target.bus) continue;
    if (target.by_port) {
      uint8_t ports[8];
      int n = libusb_get_port_numbers(d, ports, sizeof ports);
      if (n == static_cast<int>(target.ports.size()) && std::equal(ports, ports + n, target.ports.begin())) found = d;
    } else if (libusb_get_device_address(d) == target.address) {
      found = d;
    }
  }
  if (found != nullptr) libusb_ref_device(found);
  libusb_free_device_list(list, 1);
  if (found == nullptr) {
    std::string message = "no USB device at " + target.Describe();
    if (count == 0 && access("/dev/bus/usb", F_OK) != 0) {
      message += " (this system shows no USB devices to this process: /dev/bus/usb does not exist)";
    }
    return OpResult::Fail("ENOENT", message);
  }

  libusb_device_handle* handle = nullptr;
  int r = libusb_open(found, &handle);
  if (r != LIBUSB_SUCCESS) {
    libusb_unref_device(found);
    OpResult result = OpResult::Libusb(r, "cannot open USB device at " + target.Describe());
    if (r == LIBUSB_ERROR_ACCESS) {
      char node[64];
      snprintf(node, sizeof node, "/dev/bus/usb/%03d/%03d", libusb_get_bus_number(found),
               libusb_get_device_address(found));
      result.message += std::string(" (needs read/write access to ") + node +
                        ": add a udev rule for the camera or run with the rights to use it)";
    }
    return result;
  }

  std::shared_ptr<DeviceState> state(new DeviceState(std::move(bridge), usb, found, handle));
  DeviceIdentity& id = state->identity_;
  id.bus = libusb_get_bus_number(found);
  id.address = libusb_get_device_address(found);
  uint8_t ports[8];
  int n = libusb_get_port_numbers(found, ports, sizeof ports);
  id.port_path = std::to_string(id.bus) + "-";
  if (n <= 0) id.port_path += "0";
  for (int i = 0; i < n; i++) id.port_path += (i ? "." : "") + std::to_string(ports[i]);
  id.speed = libusb_get_device_speed(found);

  libusb_device_descriptor desc;
  libusb_get_device_descriptor(found, &desc);  // cached by libusb at enumeration; cannot fail
  id.vendor_id = desc.idVendor;
  id.product_id = desc.idProduct;
  uint8_t* d = id.device_descriptor.data();
  d[0] = desc.bLength;
  d[1] = desc.bDescriptorType;
  d[2] = desc.bcdUSB & 0xff;
  d[3] = desc.bcdUSB >> 8;
  d[4] = desc.bDeviceClass;
  d[5] = desc.bDeviceSubClass;
  d[6] = desc.bDeviceProtocol;
  d[7] = desc.bMaxPacketSize0;
  d[8] = desc.idVendor & 0xff;
  d[9] = desc.idVendor >> 8;
  d[10] = desc.idProduct & 0xff;
  d[11] = desc.idProduct >> 8;
  d[12] = desc.bcdDevice & 0xff;
  d[13] = desc.bcdDevice >> 8;
  d[14] = desc.iManufacturer;
  d[15] = desc.iProduct;
  d[16] = desc.iSerialNumber;
  d[17] = desc.bNumConfigurations;

  int value = 0;
  r = libusb_get_configuration(handle, &value);
  if (r != LIBUSB_SUCCESS) {
    // The handle is closed by the destructor (nothing in flight yet).
    return OpResult::Libusb(r, "cannot read the active configuration of the USB device at " + target.Describe());
  }
  id.active_config_value = value;
  for (int i = 0; value != 0 && i < desc.bNumConfigurations; i++) {
    libusb_config_descriptor* config = nullptr;
    if (libusb_get_config_descriptor(found, static_cast<uint8_t>(i), &config) != LIBUSB_SUCCESS) continue;
    if (config->bConfigurationValue == value) {
      id.active_config_index = i;
      state->config_ = config;
      break;
    }
    libusb_free_config_descriptor(config);
  }

  usb->Track(state);
  state->bridge_->Adopt(state);
  *out = state;
  return OpResult::Ok();
}

DeviceState::State DeviceState::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

const char* DeviceState::Unusable() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kOpen) return "EBADF";
  if (gone_.load()) return "ENODEV";
  return nullptr;
}

OpResult DeviceState::UnusableResult(const std::string& what) const {
  const char* code = Unusable();
  if (code == nullptr) return OpResult::Ok();
  if (code[1] == 'B') return OpResult::Fail(code, what + ": the device was closed");
  return OpResult::Fail(code, what + ": the device is gone (unplugged)");
}

void DeviceState::MarkGone() {
  if (gone_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(drain_mu_);
    if (in_flight_ > 0) {
      disconnect_waiting_ = true;
      std::weak_ptr<DeviceState> weak = shared_from_this();
      usb_->RunAt(MonotonicNs() + kDisconnectWaitNs, [weak] {
        if (auto self = weak.lock()) self->TellDisconnect();
      });
      return;
    }
  }
  TellDisconnect();
}

void DeviceState::TellDisconnect() {
  {
    std::lock_guard<std::mutex> lock(drain_mu_);
    if (disconnect_told_) return;
    disconnect_told_ = true;
    disconnect_waiting_ = false;
  }
  std::shared_ptr<DeviceObserver> observer;
  std::vector<std::shared_ptr<StreamState>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    observer = observer_;
    for (auto& entry : streams_) streams.push_back(entry.stream);
  }
  // A stream may hold completions it has not told JavaScript of yet (WakeOn::kUvcFrame): their notice goes first.
  for (auto& stream : streams) stream->WakeNow();
  if (observer) observer->Disconnected();
}

void DeviceState::SetObserver(std::shared_ptr<DeviceObserver> observer) {
  bool tell;
  {
    std::lock_guard<std::mutex> lock(mu_);
    observer_ = observer;
  }
  {
    std::lock_guard<std::mutex> lock(drain_mu_);
    tell = disconnect_told_;
  }
  // Gone before JavaScript had its object: JavaScript reads `gone` as it sets up, and is told once more here.
  if (tell) observer->Disconnected();
}

int DeviceState::Note(int libusb_result) {
  if (libusb_result == LIBUSB_ERROR_NO_DEVICE) MarkGone();
  return libusb_result;
}

bool DeviceState::InterfaceStreaming(int interface_number) const {
  for (auto& entry : streams_) {
    if (entry.interface_number == interface_number) return true;
  }
  return false;
}

OpResult DeviceState::CheckInterface(int interface_number, int alt_setting, const std::string& what) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (config_ == nullptr) return OpResult::Ok();  // unconfigured: let the kernel say what it thinks
  for (int i = 0; i < config_->bNumInterfaces; i++) {
    const libusb_interface& interface = config_->interface[i];
    if (interface.num_altsetting == 0 || interface.altsetting[0].bInterfaceNumber != interface_number) continue;
    if (alt_setting < 0) return OpResult::Ok();
    for (int a = 0; a < interface.num_altsetting; a++) {
      if (interface.altsetting[a].bAlternateSetting == alt_setting) return OpResult::Ok();
    }
    return OpResult::Fail("EINVAL", what + ": the interface has no such alt setting");
  }
  return OpResult::Fail("EINVAL", what + ": the active configuration has no such interface");
}

OpResult DeviceState::ClaimInterface(int interface_number) {
  std::lock_guard<std::mutex> ops(ops_mu_);
  std::string what = "cannot claim interface " + std::to_string(interface_number);
  OpResult usable = UnusableResult(what);
  if (!usable.ok()) return usable;
  OpResult exists = CheckInterface(interface_number, -1, what);
  if (!exists.ok()) return exists;
  uint32_t bit = 1u << interface_number;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (claimed_ & bit) return OpResult::Ok();
  }
  // Detach a bound kernel driver atomically with the claim (USBDEVFS_DISCONNECT_CLAIM), and remember that we did,
  // so that release and close re-attach exactly the drivers we took the interface from.
  int active = libusb_kernel_driver_active(handle_, interface_number);
  bool detach = active == 1;
  libusb_set_auto_detach_kernel_driver(handle_, detach ? 1 : 0);
  int r = Note(libusb_claim_interface(handle_, interface_number));
  libusb_set_auto_detach_kernel_driver(handle_, 0);
  if (r != LIBUSB_SUCCESS) {
    OpResult result = OpResult::Libusb(r, what);
    if (r == LIBUSB_ERROR_BUSY) result.message += " (another program or driver holds it)";
    return result;
  }
  std::lock_guard<std::mutex> lock(mu_);
  claimed_ |= bit;
  if (detach) detached_ |= bit;
  alt_[interface_number] = 0;
  return OpResult::Ok();
}

OpResult DeviceState::ReleaseInterface(int interface_number) {
  std::lock_guard<std::mutex> ops(ops_mu_);
  std::string what = "cannot release interface " + std::to_string(interface_number);
  OpResult usable = UnusableResult(what);
  if (!usable.ok()) return usable;
  uint32_t bit = 1u << interface_number;
  bool reattach;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!(claimed_ & bit)) return OpResult::Fail("EINVAL", what + ": it is not claimed");
    if (InterfaceStreaming(interface_number)) {
      return OpResult::Fail("EBUSY", what + ": a stream runs on one of its endpoints; stop it first");
    }
    reattach = detached_ & bit;
  }
  libusb_set_auto_detach_kernel_driver(handle_, reattach ? 1 : 0);
  int r = Note(libusb_release_interface(handle_, interface_number));
  libusb_set_auto_detach_kernel_driver(handle_, 0);
  std::lock_guard<std::mutex> lock(mu_);
  if (r == LIBUSB_SUCCESS || r == LIBUSB_ERROR_NOT_FOUND) {
    claimed_ &= ~bit;
    detached_ &= ~bit;
  }
  if (r != LIBUSB_SUCCESS) return OpResult::Libusb(r, what);
  return OpResult::Ok();
}

OpResult DeviceState::SetAltSetting(int interface_number, int alt_setting) {
  std::lock_guard<std::mutex> ops(ops_mu_);
  std::string what =
      "cannot select alt setting " + std::to_string(alt_setting) + " of interface " + std::to_string(interface_number);
  OpResult usable = UnusableResult(what);
  if (!usable.ok()) return usable;
  OpResult exists = CheckInterface(interface_number, alt_setting, what);
  if (!exists.ok()) return exists;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!(claimed_ & (1u << interface_number))) return OpResult::Fail("EINVAL", what + ": claim the interface first");
    if (InterfaceStreaming(interface_number)) {
      return OpResult::Fail("EBUSY", what + ": a stream runs on one of its endpoints; stop it first");
    }
  }
  int r = Note(libusb_set_interface_alt_setting(handle_, interface_number, alt_setting));
  if (r != LIBUSB_SUCCESS) return OpResult::Libusb(r, what);
  std::lock_guard<std::mutex> lock(mu_);
  alt_[interface_number] = static_cast<uint8_t>(alt_setting);
  return OpResult::Ok();
}

OpResult DeviceState::ClearHalt(int endpoint) {
  std::lock_guard<std::mutex> ops(ops_mu_);
  std::string what = "cannot clear the halt of endpoint " + Hex(endpoint, 2);
  OpResult usable = UnusableResult(what);
  if (!usable.ok()) return usable;
  int r = Note(libusb_clear_halt(handle_, static_cast<unsigned char>(endpoint)));
  if (r != LIBUSB_SUCCESS) return OpResult::Libusb(r, what);
  return OpResult::Ok();
}

void DeviceState::MarkClosing() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ == State::kOpen) state_ = State::kClosing;
}

void DeviceState::CloseBlocking(std::chrono::milliseconds drain) {
  MarkClosing();
  std::lock_guard<std::mutex> ops(ops_mu_);
  std::vector<std::shared_ptr<StreamState>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kClosed) return;
    for (auto& entry : streams_) streams.push_back(entry.stream);
    // Cancelling under mu_ keeps each op alive: its callback removes it under mu_ before anything frees it.
    for (ControlOp* op : controls_) libusb_cancel_transfer(op->transfer());
  }
  for (auto& stream : streams) stream->BeginStop();

  bool drained;
  {
    std::unique_lock<std::mutex> lock(drain_mu_);
    drained = drain_cv_.wait_for(lock, drain, [this] { return in_flight_ == 0; });
  }
  if (!drained) {
    // Freeing now could let the kernel write into freed memory: keep everything, forever.
    fprintf(stderr, "uvc-capture: transfers of the USB device at %s did not come back; leaving it open\n",
            identity_.port_path.c_str());
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kClosed;
    }
    // Their stop() promises settle (nothing will be delivered); the memory stays, with the leaked device.
    for (auto& stream : streams) stream->Abandon();
    usb_->Leak(shared_from_this());
    usb_->Untrack(this);
    return;
  }

  uint32_t claimed, detached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    claimed = claimed_;
    detached = detached_;
  }
  if (!gone_.load()) {
    // Release every interface before giving any back: a driver that spans interfaces (uvcvideo binds the video
    // control interface and claims the streaming ones from its probe) finds them all free only then. Released
    // one by one, uvcvideo re-bound interface 0 while we still held 1 and came back without its video node.
    for (int i = 0; i < 32; i++) {
      if (claimed & (1u << i)) Note(libusb_release_interface(handle_, i));
    }
    // Ascending order; an interface the driver already took from an earlier one's probe needs nothing (the
    // kernel then binds nothing and libusb says NOT_FOUND).
    for (int i = 0; i < 32 && !gone_.load(); i++) {
      if (detached & (1u << i)) Note(libusb_attach_kernel_driver(handle_, i));
    }
  }
  libusb_close(handle_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    claimed_ = detached_ = 0;
    state_ = State::kClosed;
  }
  usb_->Untrack(this);
}

void DeviceState::CloseLater() { usb_->CloseInBackground(shared_from_this()); }

OpResult DeviceState::FindEndpoint(int address, EndpointInfo* out) const {
  std::string name = "endpoint " + Hex(address, 2);
  std::lock_guard<std::mutex> lock(mu_);
  if (config_ == nullptr) return OpResult::Fail("EINVAL", "the device is not configured, so it has no " + name);
  int owner = -1;  // an interface that has the endpoint in some alt setting
  int owner_alt = -1;
  for (int i = 0; i < config_->bNumInterfaces; i++) {
    const libusb_interface& interface = config_->interface[i];
    for (int a = 0; a < interface.num_altsetting; a++) {
      const libusb_interface_descriptor& alt = interface.altsetting[a];
      int number = alt.bInterfaceNumber;
      for (int e = 0; e < alt.bNumEndpoints; e++) {
        const libusb_endpoint_descriptor& ep = alt.endpoint[e];
        if (ep.bEndpointAddress != address) continue;
        bool claimed = number < 32 && (claimed_ & (1u << number));
        if (claimed && alt.bAlternateSetting == alt_[number]) {
          out->interface_number = number;
          out->transfer_type = ep.bmAttributes & 0x3;
          out->max_packet_size = ep.wMaxPacketSize;
          out->interval_ns =
              BusIntervalNs(identity_.speed) * IntervalUnits(out->transfer_type, ep.bInterval, identity_.speed);
          return OpResult::Ok();
        }
        if (owner < 0) {
          owner = number;
          owner_alt = alt.bAlternateSetting;
        }
      }
    }
  }
  if (owner < 0) return OpResult::Fail("EINVAL", "the active configuration has no " + name);
  if (!(claimed_ & (1u << owner))) {
    return OpResult::Fail("EINVAL", name + " belongs to interface " + std::to_string(owner) + ", which is not claimed");
  }
  return OpResult::Fail("EINVAL", name + " is not in the current alt setting (" + std::to_string(alt_[owner]) +
                                      ") of interface " + std::to_string(owner) + "; select alt setting " +
                                      std::to_string(owner_alt) + " first");
}

OpResult DeviceState::AddStream(const std::shared_ptr<StreamState>& stream, int endpoint, int interface_number) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kOpen) return OpResult::Fail("EBADF", "cannot start a stream: the device was closed");
  if (gone_.load()) return OpResult::Fail("ENODEV", "cannot start a stream: the device is gone (unplugged)");
  for (auto& entry : streams_) {
    if (entry.endpoint == endpoint) {
      return OpResult::Fail("EBUSY", "a stream already runs on endpoint " + Hex(endpoint, 2) +
                                         " (a stopped stream counts until all its transfers came back)");
    }
  }
  streams_.push_back({stream, endpoint, interface_number});
  return OpResult::Ok();
}

void DeviceState::RemoveStream(const StreamState* stream) {
  std::shared_ptr<StreamState> removed;  // dropped after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = streams_.begin(); it != streams_.end(); ++it) {
    if (it->stream.get() == stream) {
      removed = std::move(it->stream);
      streams_.erase(it);
      break;
    }
  }
}

bool DeviceState::AddControl(ControlOp* op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kOpen) return false;
  controls_.insert(op);
  return true;
}

void DeviceState::RemoveControl(ControlOp* op) {
  std::lock_guard<std::mutex> lock(mu_);
  controls_.erase(op);
}

void DeviceState::TransferSubmitted() { in_flight_++; }

void DeviceState::TransferReturned() {
  if (--in_flight_ != 0) return;
  bool tell;
  {
    // Waiters check in_flight_ under this lock: taking it after the decrement means none misses the notice.
    std::lock_guard<std::mutex> lock(drain_mu_);
    drain_cv_.notify_all();
    tell = disconnect_waiting_;
  }
  // The last transfer of a gone device came back (its completion already queued for JavaScript).
  if (tell) TellDisconnect();
}

void DeviceState::TransferNotSubmitted() {
  if (--in_flight_ != 0) return;
  bool tell;
  {
    std::lock_guard<std::mutex> lock(drain_mu_);
    drain_cv_.notify_all();
    tell = disconnect_waiting_;
  }
  if (!tell) return;
  std::weak_ptr<DeviceState> weak = shared_from_this();
  usb_->RunAt(MonotonicNs(), [weak] {
    if (auto self = weak.lock()) self->TellDisconnect();
  });
}

}  // namespace uvc
