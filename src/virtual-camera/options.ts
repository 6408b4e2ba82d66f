/**
 * What a virtual camera can be told at construction: identity, USB speed and transfer type, UVC version, the
 * formats it offers, its pace, and faults to inject. Every field is optional; `resolveOptions` fills in the
 * defaults and rejects nonsense with a UvcError EINVAL (a camera that cannot exist is never built).
 */
import { uvcError } from '../errors.js';
import { resolveFormats, defaultFormats, type FormatSpec, type ResolvedFormat } from './formats.js';
import { buildLayout, type DeviceLayout } from './device-layout.js';
import { resolveFaults, type FaultOptions, type ResolvedFaults } from './faults.js';
import { readFace, type CameraFace } from './face.js';
import { PROFILES, PROFILE_NAMES, type ProfileName } from './profiles/index.js';
import { resolveQuirks, type QuirkSet, type VirtualQuirk } from './quirks.js';
import type { InvalidOption, Pace, UvcVersion, VirtualSpeed, VirtualTransfer } from './types.js';

export interface VirtualCameraOptions {
  uvcVersion?: UvcVersion;
  speed?: VirtualSpeed;
  transfer?: VirtualTransfer;
  /** Offered formats in descriptor order (format index 1 first). Defaults depend on the speed (see formats.ts). */
  formats?: readonly FormatSpec[];
  vendorId?: number;
  productId?: number;
  /** bcdDevice, default 0x0100. */
  deviceRelease?: number;
  manufacturer?: string;
  product?: string;
  /** null: no serial number string (iSerialNumber 0). */
  serial?: string | null;
  pace?: Pace;
  /** dwClockFrequency of the device clock behind PTS and SCR, in Hz. Default 48 MHz. */
  clockFrequency?: number;
  /** How far the device clock runs off its nominal frequency against the bus SOF clock, in ppm. Default 0. */
  clockDriftPpm?: number;
  /** Payload header fields. Default: both, 12-byte headers. */
  headerPts?: boolean;
  headerScr?: boolean;
  /** iso: what the device sends in intervals without video data. Default 'header' (header-only packets). */
  idlePackets?: 'header' | 'empty';
  /**
   * Real-time iso: complete each request as close to the end of its last bus interval as the event loop allows
   * (a timer to a millisecond before, then turns of the event loop), instead of on the next millisecond timer tick,
   * which makes every completion late by up to a millisecond, by the same amount for aligned transfers. Costs CPU
   * while streaming (the timestamp benchmark uses it). Default false.
   */
  preciseCompletions?: boolean;
  /** bulk: the device's dwMaxPayloadTransferSize. Default 32768 (high/super speed), 4096 (full speed). */
  bulkMaxPayloadTransferSize?: number;
  /** MJPEG: strip the DHT segments like some real cameras do (decoders must then insert ITU-T T.81 Annex K tables). */
  omitHuffmanTables?: boolean;
  /**
   * Render at most this many distinct frames per stream and cycle them: frame n shows stamp n mod frameCache.
   * Meant for benchmarks in 'fast' pace, where rendering (JPEG encoding above all) would otherwise dominate.
   * The cache is dropped when a picture control changes. Default: no cache (every frame rendered afresh).
   */
  frameCache?: number;
  /**
   * Frames rendered ahead: of the one on the wire ('fast'), of the sensor's next capture ('realtime').
   * Default 3.
   */
  renderAhead?: number;
  /** Seeds every pseudo-random choice (packet loss, where the SOF counter and the device clock start). Default 1. */
  seed?: number;
  faults?: FaultOptions;
  /** How many records `camera.sentFrames` keeps (the newest; 0 keeps none). Default 2048. */
  sentFramesLimit?: number;
  /**
   * How this camera misbehaves, always, by the kebab-case names of shared/reference/uvc-quirks.md (see quirks.ts).
   * 'probe-extrafields' makes the camera UVC 1.0 unless uvcVersion says otherwise (which is refused).
   */
  quirks?: readonly VirtualQuirk[];
  /**
   * Wear a real camera's face (profiles/index.ts: 'logitech-c270', 'elp-h264', ...): its device and configuration
   * descriptors verbatim, its formats, units and interfaces. Speed, transfer, formats, vendorId, productId and
   * uvcVersion then come from the descriptors and may not be given.
   */
  profile?: ProfileName;
  /** Any camera's face, as bytes (VirtualCamera.fromDescriptors fills this in). */
  descriptors?: { configuration: Uint8Array; device: Uint8Array };
}

export interface ResolvedOptions {
  uvcVersion: UvcVersion;
  bcdUVC: number;
  probeLength: number;
  speed: VirtualSpeed;
  transfer: VirtualTransfer;
  formats: ResolvedFormat[];
  vendorId: number;
  productId: number;
  deviceRelease: number;
  manufacturer: string;
  product: string;
  serial: string | null;
  pace: Pace;
  clockFrequency: number;
  clockDriftPpm: number;
  headerPts: boolean;
  headerScr: boolean;
  idlePackets: 'header' | 'empty';
  preciseCompletions: boolean;
  bulkMaxPayloadTransferSize: number;
  omitHuffmanTables: boolean;
  frameCache: number | null;
  renderAhead: number;
  seed: number;
  faults: ResolvedFaults;
  sentFramesLimit: number;
  quirks: QuirkSet;
  /** The real camera's face worn (profile or descriptors), else null: the descriptors are generated. */
  face: CameraFace | null;
  layout: DeviceLayout;
}

const VERSIONS: Record<UvcVersion, { bcd: number; probeLength: number }> = {
  '1.0': { bcd: 0x0100, probeLength: 26 },
  '1.1': { bcd: 0x0110, probeLength: 34 },
  '1.5': { bcd: 0x0150, probeLength: 48 },
};

const invalid: InvalidOption = (message, details) => {
  throw uvcError('EINVAL', `virtual camera: ${message}`, details);
};

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    invalid(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

function finite(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    invalid(`${name} must be a number in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') invalid(`${name} must be a boolean, got ${String(value)}`);
  return value;
}

/** A string descriptor holds at most 126 UTF-16 code units (bLength is one byte). */
function usbString(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0 || value.length > 126) {
    invalid(`${name} must be a non-empty string of at most 126 characters`);
  }
  return value;
}

/** The UVC version a bcdUVC stands for (in between versions count as the older). */
export function uvcVersionOf(bcdUVC: number): UvcVersion {
  return bcdUVC >= 0x0150 ? '1.5' : bcdUVC >= 0x0110 ? '1.1' : '1.0';
}

function bytesOf(name: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) invalid(`${name} must be a Uint8Array`);
  return value;
}

/** The face the options name (profile or descriptors), or null. */
function resolveFace(options: VirtualCameraOptions): CameraFace | null {
  if (options.profile !== undefined && options.descriptors !== undefined) invalid('give either profile or descriptors, not both');
  let bytes: { configuration: Uint8Array; device: Uint8Array } | null = null;
  if (options.profile !== undefined) {
    if (typeof options.profile !== 'string' || !Object.hasOwn(PROFILES, options.profile)) {
      invalid(`unknown profile ${JSON.stringify(options.profile)}; profiles: ${PROFILE_NAMES.join(', ')}`);
    }
    const p = PROFILES[options.profile];
    bytes = { configuration: Uint8Array.from(Buffer.from(p.configuration, 'hex')), device: Uint8Array.from(Buffer.from(p.device, 'hex')) };
  } else if (options.descriptors !== undefined) {
    const d = options.descriptors;
    if (typeof d !== 'object' || d === null) invalid('descriptors must be { configuration, device }');
    bytes = { configuration: bytesOf('descriptors.configuration', d.configuration), device: bytesOf('descriptors.device', d.device) };
  }
  if (bytes === null) return null;
  for (const key of ['speed', 'transfer', 'formats', 'vendorId', 'productId', 'uvcVersion', 'deviceRelease'] as const) {
    if (options[key] !== undefined) invalid(`${key} comes from the descriptors of the camera's face; do not give it`);
  }
  return readFace(bytes.configuration, bytes.device, invalid);
}

export function resolveOptions(options: VirtualCameraOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) invalid('options must be an object');
  const face = resolveFace(options);
  const firstFunction = face?.functions[0];
  const firstPort = firstFunction?.ports[0];
  const wantsExtraFields = Array.isArray(options.quirks) && options.quirks.includes('probe-extrafields');
  const uvcVersion = firstFunction
    ? uvcVersionOf(firstFunction.bcdUVC)
    : oneOf('uvcVersion', options.uvcVersion, ['1.0', '1.1', '1.5'] as const, wantsExtraFields ? '1.0' : '1.1');
  const speed = face ? face.speed : oneOf('speed', options.speed, ['full', 'high', 'super'] as const, 'high');
  const transfer = firstPort ? firstPort.transfer : oneOf('transfer', options.transfer, ['iso', 'bulk'] as const, 'iso');
  const pace = oneOf('pace', options.pace, ['realtime', 'fast'] as const, 'realtime');
  const idlePackets = oneOf('idlePackets', options.idlePackets, ['header', 'empty'] as const, 'header');
  const headerPts = bool('headerPts', options.headerPts, true);
  const headerScr = bool('headerScr', options.headerScr, true);
  const headerLength = 2 + (headerPts ? 4 : 0) + (headerScr ? 6 : 0);

  const serial =
    options.serial === null ? null : usbString('serial', options.serial, '0001');
  const frameCache =
    options.frameCache === undefined ? null : integer('frameCache', options.frameCache, 1, 1_000_000, 1);

  const bulkDefault = speed === 'full' ? 4096 : 32768;
  const bulkMaxPayloadTransferSize = integer(
    'bulkMaxPayloadTransferSize',
    options.bulkMaxPayloadTransferSize,
    headerLength + 1,
    16 * 1024 * 1024,
    bulkDefault,
  );

  const quirks = resolveQuirks(options.quirks, { uvcVersion, speed, transfer, invalid });
  const layout = buildLayout(speed, transfer);
  // status-interval: the firmware wrote its 32 ms polling interval as a count, where high speed wants 2^(n-1) µframes.
  if (quirks.has('status-interval')) layout.statusBInterval = 32;
  // A face's formats are what its descriptors say (the camera does not judge whether its bus can carry them).
  const formats = firstPort ? firstPort.formats : resolveFormats(options.formats ?? defaultFormats(speed), { speed, transfer, layout, headerLength, invalid });
  const device = face?.device;
  const word = (at: number) => device![at]! | (device![at + 1]! << 8);

  return {
    uvcVersion,
    bcdUVC: VERSIONS[uvcVersion].bcd,
    // probe-extrafields: a UVC 1.0 camera that speaks the UVC 1.1 block.
    probeLength: quirks.has('probe-extrafields') ? 34 : VERSIONS[uvcVersion].probeLength,
    speed,
    transfer,
    formats,
    vendorId: device ? word(8) : integer('vendorId', options.vendorId, 0, 0xffff, 0x1209),
    productId: device ? word(10) : integer('productId', options.productId, 0, 0xffff, 0x0001),
    deviceRelease: device ? word(12) : integer('deviceRelease', options.deviceRelease, 0, 0xffff, 0x0100),
    manufacturer: usbString('manufacturer', options.manufacturer, options.profile ? PROFILES[options.profile].manufacturer : 'uvc-capture'),
    product: usbString('product', options.product, options.profile ? PROFILES[options.profile].product : 'Virtual UVC Camera'),
    serial,
    pace,
    clockFrequency: firstFunction ? firstFunction.clockFrequency : integer('clockFrequency', options.clockFrequency, 1000, 0xffffffff, 48_000_000),
    clockDriftPpm: finite('clockDriftPpm', options.clockDriftPpm, -10_000, 10_000, 0),
    headerPts,
    headerScr,
    idlePackets,
    preciseCompletions: bool('preciseCompletions', options.preciseCompletions, false),
    bulkMaxPayloadTransferSize,
    omitHuffmanTables: bool('omitHuffmanTables', options.omitHuffmanTables, false),
    frameCache,
    renderAhead: integer('renderAhead', options.renderAhead, 1, 16, 3),
    seed: integer('seed', options.seed, 0, 0xffffffff, 1),
    faults: resolveFaults(options.faults, invalid),
    sentFramesLimit: integer('sentFramesLimit', options.sentFramesLimit, 0, 1_000_000, 2048),
    quirks,
    face,
    layout,
  };
}

