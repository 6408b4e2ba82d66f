/** The native addon where it loads, else null: tests that compare with its C paths skip those (and say so once). */
import type { NativeAddon } from '../../../src/transport/native/addon-types.js';
import { loadNativeAddon } from '../../../src/transport/native/index.js';

export function optionalAddon(): NativeAddon | null {
  try {
    return loadNativeAddon();
  } catch {
    return null;
  }
}
