/** uvc-capture: a userspace UVC webcam driver for Node.js. The public API is exported from here. */
export { UvcError, isUvcError } from './errors.js';
export type { UvcErrorCode } from './errors.js';
export type { UsbSpeed } from './spec/usb.js';
