/**
 * Makes a device model's transfer completions arrive one per turn of the event loop, the way the native addon
 * delivers libusb's completions (each one a callback from libuv), instead of as promise jobs.
 *
 * Why: a 'fast' virtual camera whose frames are all cached completes a request, and the in-process host
 * resubmits it, entirely in microtasks, so the event loop never turns while it streams. The consumer's
 * `await dqbuf()` then competes job for job with the producer, which completes several small frames per
 * transfer: frames are dropped for want of a requeued buffer, an artefact no real device can cause. With one
 * completion per turn, every consumer continuation runs before the next completion, as on real hardware.
 * The cost (one setImmediate per transfer) falls on the camera side of the measurement, in both runs.
 */
import type { EndpointReply, EndpointRequest, UsbDeviceModel } from '../../src/transport/device-model.js';

export function completeOnePerTurn<T extends UsbDeviceModel>(model: T): T {
  const transfer = model.transfer.bind(model);
  model.transfer = (request: EndpointRequest): Promise<EndpointReply> =>
    transfer(request).then((reply) => new Promise<EndpointReply>((resolve) => setImmediate(resolve, reply)));
  return model;
}
