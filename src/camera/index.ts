/** The public camera API: find cameras, open one, stream from its queue, adjust its controls. */
export { openCamera, findCamera } from './open-camera.js';
export type { CameraTarget, OpenCameraOptions } from './open-camera.js';
export { Camera } from './camera.js';
export type { CameraDescription, CameraEvents, CameraStats, ControlEvent, ButtonEvent } from './camera.js';
export { listCameras, describeCameras, udevRuleFor } from './list-cameras.js';
export type { CameraInfo } from './list-cameras.js';
export type { CameraFormat, CameraFrameSize, NegotiatedFormat } from './camera-formats.js';
export { planBandwidth } from './plan-bandwidth.js';
export type { BandwidthRequest, PlanBandwidthOptions, BandwidthPlan, PlannedCamera, PlannedMode, BandwidthDomain } from './plan-bandwidth.js';
export { pairFrames, FramePairing } from './frame-pairing.js';
export type { PairFramesOptions, FrameSet, PairingStats } from './frame-pairing.js';
