/** uvc-capture: a userspace UVC webcam driver for Node.js. The public API is exported from here. */
export { UvcError, isUvcError } from './errors.js';
export type { UvcErrorCode } from './errors.js';
export type { UsbSpeed } from './spec/usb.js';

// Cameras: find, open, stream, adjust.
export { openCamera, findCamera, listCameras, Camera, udevRuleFor } from './camera/index.js';
export type {
  CameraTarget,
  OpenCameraOptions,
  CameraDescription,
  CameraEvents,
  CameraStats,
  ControlEvent,
  ButtonEvent,
  CameraInfo,
  CameraFormat,
  CameraFrameSize,
  NegotiatedFormat,
} from './camera/index.js';

// What camera.stats.clock says about timestamps.
export type { TimestampStats, ClockRecoveryStats, FrameTimestampStats } from './stream/index.js';

// The buffer queue a camera streams into (videobuf2's contract).
export { QueueHandle, VideoBuffer } from './queue/index.js';
export type { BufferState, BufferFlags, DqbufOptions, FramesOptions, QbufOptions } from './queue/index.js';

// The UVC protocol layer, for tools that need more than a camera.
export { parseUvcDescriptors, decodeStatusPacket, NEAREST_MATCH_RULE } from './uvc/index.js';
export type {
  UvcDescriptors,
  ControlEntry,
  IntegerControlEntry,
  BooleanControlEntry,
  MenuControlEntry,
  CompoundControlEntry,
  RawControlEntry,
  ControlFlags,
  ControlValue,
  CompoundValue,
  MenuEntry,
  FormatRequest,
  StatusEvent,
} from './uvc/index.js';

// The virtual camera (a USB device model), and the USB/IP server that plugs any device model into a Linux kernel.
export { VirtualCamera, decodeFrameStamp, scoreCapture } from './virtual-camera/index.js';
export type { VirtualCameraOptions, FaultOptions, FormatSpec, FrameSpec, SentFrame, FrameFault, ReceivedFrame, CaptureScore } from './virtual-camera/index.js';
export { startUsbipServer } from './usbip/index.js';

// Transports, for those who bring their own device model or drive USB directly.
export type { UsbTransport, CompletedTransfer, StreamOptions, UsbStream } from './transport/usb-transport.js';
export type { UsbDeviceModel } from './transport/device-model.js';
