/**
 * A virtual camera for throughput runs: 'fast' pace, a frame cache, and its automatic exposure and white balance
 * off. The automatic modes adjust every few frames and report each change on the status endpoint; in 'fast' pace
 * frames go hundreds of times faster than the nominal rate, and so would those reports, measuring the control
 * path instead of the video path. (The in-process host hands each completion over in a callback of its own, as
 * the addon does, so a camera whose frames are all cached starves neither the consumer nor the event loop.)
 */
import { AeMode } from '../../src/spec/uvc.js';
import { VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';

export function throughputCamera(options: VirtualCameraOptions, frameCache: number): VirtualCamera {
  const vcam = new VirtualCamera({ ...options, pace: 'fast', frameCache });
  const controls = vcam.controls;
  const set = (name: string, value: number): void => {
    const result = controls.set(controls.definition(name), [value]);
    if (!result.ok) throw new Error(`virtual camera: cannot set ${name} to ${value} (request error ${result.code})`);
  };
  set('ae_mode', AeMode.MANUAL);
  set('white_balance_temperature_auto', 0);
  return vcam;
}
