/** The native transport: real USB devices through the addon (libusb + the kernel). */
export {
  openNativeDevice,
  parsePortPath,
  NativeTransport,
  DEFAULT_CONTROL_TIMEOUT_MS,
} from './native-transport.js';
export type { NativeDeviceTarget, NativeOpenOptions } from './native-transport.js';
export { NativeStream } from './native-stream.js';
export { loadNativeAddon, nativeAddonLocation, resolveNativeAddon, packageRoot, BUILD_HINT } from './load-addon.js';
export type { AddonLocation, AddonSource } from './load-addon.js';
export type { NativeAddon } from './addon-types.js';
