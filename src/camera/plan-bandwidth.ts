/**
 * planBandwidth(): given open cameras and the modes wished for each, say whether they can stream together and
 * what to lower when they cannot. Each wished mode is probed with its camera (as setFormat does: nothing is
 * committed), so the alt setting in the plan is the one streaming will select; the schedule arithmetic is the
 * host controller's (src/transport/periodic-budget.ts). Each camera's format is left as it was found.
 *
 * Cameras at different speeds are on different buses (a USB 3 controller has a SuperSpeed and a USB 2 root hub)
 * and are planned as separate bandwidth domains. Without a `bus`, the cameras of one speed are assumed to share
 * one domain holding nothing else but their status endpoints: one EHCI, or one hub on one xHCI root port (each
 * xHCI root port is a domain of its own, so cameras on different ports do not compete). Real controllers run
 * their own arithmetic, close to Linux's but not always equal. With a VirtualBus the plan starts from what the
 * bus holds for others and agrees exactly with what SET_INTERFACE then finds.
 */
import { isUvcError, UvcError } from '../errors.js';
import type { UsbSpeed } from '../spec/usb.js';
import { endpointCost, PeriodicSchedule, type BudgetLimits, type BudgetSpeed } from '../transport/periodic-budget.js';
import type { VirtualBus } from '../transport/virtual/virtual-bus.js';
import {
  modeOption,
  modeRefOf,
  modesNearest,
  planCombination,
  statusEndpointOf,
  type CombinationCamera,
  type ModeOption,
  type ModeRef,
  type PlannedMode,
} from '../uvc/bandwidth-plan.js';
import type { FormatRequest, VideoStreamingInterface } from '../uvc/index.js';
import type { NegotiatedFormat } from './camera-formats.js';
import type { Camera } from './camera.js';

export type { PlannedMode } from '../uvc/bandwidth-plan.js';

export interface BandwidthRequest {
  /** How the plan names the camera. Default: its port path. */
  name?: string;
  camera: Camera;
  /** The wished mode, as setFormat() takes it. Default: the camera's current format. */
  mode?: FormatRequest;
}

export interface PlanBandwidthOptions {
  /** The VirtualBus the cameras are plugged into: plan against what it holds for other devices. */
  bus?: VirtualBus;
}

export interface PlannedCamera {
  name: string;
  speed: BudgetSpeed;
  /** The wished mode as the camera would stream it (nearest mode it has), with what it takes. */
  wanted: PlannedMode;
  /** It fits on its own (with what others hold), whatever the other planned cameras do. */
  fitsAlone: boolean;
  /** It streams already (or holds buffers, so its format cannot change): planned at its current mode, never lowered. */
  streaming: boolean;
}

export interface BandwidthDomain {
  speed: BudgetSpeed;
  unit: BudgetLimits['unit'];
  /** What the periodic schedule may take per interval. */
  limit: number;
  /** Held before the planned cameras stream: others' streams and every camera's status endpoint. */
  held: number;
  /** The busiest interval with every wished mode in it (more than `limit` when they do not fit). */
  used: number;
  free: number;
  fits: boolean;
  cameras: string[];
}

export interface BandwidthPlan {
  /** Every wished mode can stream at once. */
  fits: boolean;
  cameras: PlannedCamera[];
  domains: BandwidthDomain[];
  /** Each camera that, lowered alone to the mode given, makes everything fit. */
  singleChanges: Array<{ name: string; mode: PlannedMode }>;
  /** Modes that fit together, lowering as little as possible (only the cameras that change; [] when it fits), or null when nothing does. */
  lowered: Array<{ name: string; mode: PlannedMode }> | null;
}

export function budgetSpeedOf(speed: UsbSpeed): BudgetSpeed {
  if (speed === 'low' || speed === 'full') return 'full';
  if (speed === 'super' || speed === 'super-plus') return 'super';
  return 'high';
}

interface Entry {
  name: string;
  camera: Camera;
  speed: BudgetSpeed;
  vs: VideoStreamingInterface;
  wanted: ModeOption;
  streaming: boolean;
  restore: NegotiatedFormat | null;
}

function requestOf(mode: ModeRef, interfaceNumber: number): FormatRequest {
  return { fourcc: mode.fourcc ?? undefined, width: mode.width, height: mode.height, interval: mode.interval, interfaceNumber };
}

function streamingInterfaceOf(camera: Camera, interfaceNumber: number): VideoStreamingInterface {
  const vs = camera.descriptors.streamingInterfaces.find((s) => s.interfaceNumber === interfaceNumber);
  if (vs === undefined) throw new UvcError('ENOENT', `the camera has no video interface ${interfaceNumber}`);
  return vs;
}

function optionOf(speed: BudgetSpeed, vs: VideoStreamingInterface, negotiated: NegotiatedFormat): ModeOption {
  const format = vs.formats.find((f) => f.fourcc === negotiated.fourcc || (f.fourcc === null && negotiated.fourcc === ''))!;
  const frame = format.frames.find((f) => f.width === negotiated.width && f.height === negotiated.height) ?? format.frames[0]!;
  return modeOption(speed, vs, modeRefOf(format, frame, negotiated.interval), negotiated.altSetting, negotiated.bytesPerInterval);
}

async function prepare(request: BandwidthRequest, index: number): Promise<Entry> {
  const { camera } = request;
  const name = request.name ?? camera.info.portPath ?? `camera ${index + 1}`;
  const speed = budgetSpeedOf(camera.info.speed);
  const restore = camera.format;
  let negotiated: NegotiatedFormat;
  let streaming = false;
  try {
    negotiated = await camera.setFormat(request.mode ?? (restore ? { fourcc: restore.fourcc, width: restore.width, height: restore.height, interval: restore.interval, interfaceNumber: restore.interfaceNumber } : {}));
  } catch (error) {
    // A camera that streams (or whose buffers are allocated) keeps its mode: it is planned as it is.
    if (!isUvcError(error, 'EBUSY') || restore === null) throw error;
    negotiated = restore;
    streaming = true;
  }
  const vs = streamingInterfaceOf(camera, negotiated.interfaceNumber);
  return { name, camera, speed, vs, wanted: optionOf(speed, vs, negotiated), streaming, restore };
}

/**
 * Plans periodic bandwidth for the cameras' wished modes. Rejects EINVAL for a camera on another bus than
 * `options.bus`, and with the camera's own error when a wished mode cannot be negotiated at all (ENOENT for a
 * format it lacks, ENOSPC for a mode no alt setting of it carries).
 */
export async function planBandwidth(requests: readonly BandwidthRequest[], options: PlanBandwidthOptions = {}): Promise<BandwidthPlan> {
  if (!Array.isArray(requests) || requests.length === 0) throw new UvcError('EINVAL', 'planBandwidth needs at least one camera');
  const bus = options.bus;
  const entries: Entry[] = [];
  try {
    for (const [index, request] of requests.entries()) {
      const entry = await prepare(request, index);
      entries.push(entry);
      if (bus !== undefined && (request.camera.info.transport !== 'virtual' || request.camera.info.busNumber !== bus.busNumber)) {
        throw new UvcError('EINVAL', `camera '${entry.name}' is not on virtual bus ${bus.busNumber}`);
      }
      if (bus !== undefined && entry.speed !== bus.speed) throw new UvcError('EINVAL', `camera '${entry.name}' runs at ${entry.speed} speed on a ${bus.speed}-speed bus`);
    }
    const names = new Set(entries.map((e) => e.name));
    if (names.size !== entries.length) throw new UvcError('EINVAL', `two cameras have the same name: ${entries.map((e) => e.name).join(', ')}`);

    const plan: BandwidthPlan = { fits: true, cameras: [], domains: [], singleChanges: [], lowered: [] };
    const speeds = [...new Set(entries.map((e) => e.speed))];
    for (const speed of speeds) {
      const members = entries.filter((e) => e.speed === speed);
      const base = baseSchedule(speed, members, bus);
      const cameras: CombinationCamera[] = members.map((e) => ({
        name: e.name,
        wanted: e.wanted,
        candidates: e.streaming ? [] : modesNearest(e.vs, e.wanted.mode).filter((m) => m.fourcc !== null),
      }));
      const result = await planCombination(base, cameras, async (i, candidate) => {
        const entry = members[i]!;
        try {
          return optionOf(speed, entry.vs, await entry.camera.setFormat(requestOf(candidate, entry.vs.interfaceNumber)));
        } catch (error) {
          if (isUvcError(error, 'ENOSPC') || isUvcError(error, 'ENOENT')) return null;
          throw error;
        }
      });
      plan.fits &&= result.fits;
      plan.domains.push({ speed, unit: base.limits.unit, limit: base.limits.limit, held: base.peak, used: result.used, free: result.free, fits: result.fits, cameras: members.map((m) => m.name) });
      plan.singleChanges.push(...result.singleChanges);
      if (result.lowered === null) plan.lowered = null;
      else if (plan.lowered !== null) plan.lowered.push(...result.lowered);
      for (const [i, member] of members.entries()) {
        plan.cameras.push({ name: member.name, speed, wanted: member.wanted.mode, fitsAlone: result.cameras[i]!.fitsAlone, streaming: member.streaming });
      }
    }
    plan.cameras.sort((a, b) => entries.findIndex((e) => e.name === a.name) - entries.findIndex((e) => e.name === b.name));
    return plan;
  } finally {
    // Leave every camera negotiated as it was found (what streaming will commit).
    for (const entry of entries) {
      if (entry.streaming || entry.restore === null) continue;
      const r = entry.restore;
      await entry.camera.setFormat({ fourcc: r.fourcc, width: r.width, height: r.height, interval: r.interval, interfaceNumber: r.interfaceNumber }).catch(() => undefined);
    }
  }
}

/** The schedule before the planned cameras stream. */
function baseSchedule(speed: BudgetSpeed, members: readonly Entry[], bus: VirtualBus | undefined): PeriodicSchedule {
  if (bus !== undefined) {
    return bus.scheduleWithout(members.map((m) => ({ portPath: m.camera.info.portPath, interfaceNumber: m.vs.interfaceNumber })));
  }
  const schedule = new PeriodicSchedule(speed);
  for (const member of members) {
    const status = statusEndpointOf(member.camera.descriptors);
    if (status === null) continue;
    const placed = schedule.place([endpointCost(speed, status)]);
    if (placed !== null) schedule.add(placed);
  }
  return schedule;
}
