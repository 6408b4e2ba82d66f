/**
 * What the driver knows about a camera's misbehaviour, and why (uvcvideo.h's UVC_QUIRK_* flags and uvc_driver.c's
 * uvc_ids[] table, by the kebab-case names of shared/reference/uvc-quirks.md).
 *
 * A quirk is applied for one of three reasons, and the reason is kept with it so "why did the driver do that" has
 * an answer (camera.info.quirks, camera.stats.quirks, and NODE_DEBUG=uvc):
 * - 'table': the camera's vid:pid is in QUIRK_TABLE (copied from uvcvideo's uvc_ids[] as facts, with the model);
 * - 'option': the caller asked for it (`openCamera(x, { quirks: ['probe-minmax'] })`, uvcvideo's quirks= parameter);
 * - 'detected': the camera showed the behaviour (a GET_MIN answered with 2 bytes, a GET_DEF that names no mode, a
 *   status endpoint bInterval no high-speed device may have...). Most quirks are found this way; the table is for
 *   what cannot be seen from the outside (a camera that streams at another rate than it agreed to).
 */
import { debuglog } from 'node:util';
import { UvcError } from '../errors.js';

/** Every quirk the driver handles, with what the camera does. */
export const QUIRKS = {
  'stream-no-fid': 'never toggles the FID bit: EOF alone ends a frame',
  'probe-minmax': 'stalls GET_MIN/GET_MAX on the probe control: not asked; too much bandwidth is ENOSPC',
  'probe-def': 'answers GET_DEF(PROBE) with a block that is not its default: the probe starts from GET_CUR',
  'probe-extrafields': 'a UVC 1.0 camera that wants the 34-byte (UVC 1.1) probe block',
  'minmax-comp-quality-only': 'answers GET_MIN/GET_MAX(PROBE) with wCompQuality alone (2 bytes)',
  'fix-bandwidth': 'asks far more dwMaxPayloadTransferSize than an uncompressed mode needs: the estimate is used',
  'oversized-payload-size': 'asks a dwMaxPayloadTransferSize no alternate setting has (or sign-extends a 16-bit one)',
  'restrict-frame-rate': 'lists several frame intervals but streams at the default one only: only that one is offered',
  'restore-ctrls-on-init': 'forgets control values when streaming starts: the values set are written back',
  'force-y8': 'declares YUYV but sends 8-bit greyscale twice as wide: described as GREY',
  'invalid-device-sof': 'the SOF counter in its SCR is not the bus SOF: clock recovery uses the host SOF',
  'mjpeg-no-eof': 'MJPEG frames sometimes end without EOF and FID toggle: a payload starting with SOI ends the frame',
  'status-interval': 'gives its high-speed status endpoint bInterval in milliseconds instead of as an exponent',
  'zero-scr-idle': 'sends PTS/SCR of zero in header-only payloads between frames: those samples are ignored',
  'short-control-ack': 'acknowledges a SET_CUR with fewer bytes than were sent: an error, never success',
} as const;

export type QuirkName = keyof typeof QUIRKS;
export const QUIRK_NAMES = Object.keys(QUIRKS) as QuirkName[];

export function isQuirkName(value: unknown): value is QuirkName {
  return typeof value === 'string' && Object.hasOwn(QUIRKS, value);
}

export interface QuirkTableEntry {
  vendorId: number;
  productId: number;
  /** Matches only devices whose bcdDevice is at most this (uvcvideo's bcdDevice_hi). */
  bcdDeviceMax?: number;
  /** The model, as uvcvideo names it. */
  model: string;
  quirks: readonly QuirkName[];
}

const entry = (id: string, model: string, quirks: QuirkName[], bcdDeviceMax?: number): QuirkTableEntry => {
  const [vendor, product] = id.split(':');
  return {
    vendorId: parseInt(vendor!, 16),
    productId: parseInt(product!, 16),
    model,
    quirks,
    ...(bcdDeviceMax === undefined ? {} : { bcdDeviceMax }),
  };
};

/**
 * Cameras whose quirks cannot be seen from the outside, by vid:pid: the entries of uvcvideo's uvc_ids[] (Linux 6.x)
 * for the quirks this driver handles. Cameras listed there only for quirks a userspace driver does not need (power
 * management, the built-in iSight's own payload format, metadata formats) are left out.
 */
export const QUIRK_TABLE: readonly QuirkTableEntry[] = [
  entry('0416:a91a', 'LogiLink Wireless Webcam', ['probe-minmax']),
  entry('0458:706e', 'Genius eFace 2025', ['probe-minmax']),
  entry('045e:00f8', 'Microsoft Lifecam NX-6000', ['probe-minmax']),
  entry('045e:0721', 'Microsoft Lifecam NX-3000', ['probe-def']),
  entry('045e:0723', 'Microsoft Lifecam VX-7000', ['probe-minmax']),
  entry('046d:082d', 'Logitech HD Pro Webcam C920', ['restore-ctrls-on-init', 'invalid-device-sof']),
  entry('046d:085c', 'Logitech HD Pro Webcam C922', ['invalid-device-sof']),
  entry('04f2:b071', 'Chicony CNF7129 (Asus EEE 100HE)', ['restrict-frame-rate']),
  entry('058f:3820', 'Alcor Micro AU3820 (Future Boy PC USB Webcam)', ['probe-minmax']),
  entry('05a9:2640', 'Dell XPS m1530', ['probe-def']),
  entry('05a9:2641', 'Dell SP2008WFP Monitor', ['probe-def']),
  entry('05a9:2643', 'Dell Alienware X51', ['probe-def']),
  entry('05a9:264a', 'Dell Studio Hybrid 140g (OmniVision webcam)', ['probe-def']),
  entry('05a9:7670', 'Dell XPS M1330 (OmniVision OV7670 webcam)', ['probe-def']),
  entry('05ac:8501', 'Apple Built-In iSight', ['probe-minmax']),
  entry('05ac:8514', 'Apple FaceTime HD Camera (Built-In)', ['probe-def']),
  entry('05ac:8600', 'Apple Built-In iSight via iBridge', ['probe-def']),
  entry('05c8:0403', 'Foxlink ("HP Webcam" on HP Mini 5103)', ['fix-bandwidth']),
  entry('05e3:0505', 'Genesys Logic USB 2.0 PC Camera', ['stream-no-fid']),
  entry('06f8:300c', 'Hercules Classic Silver', ['fix-bandwidth']),
  entry('0ac8:332d', 'ViMicro Vega', ['fix-bandwidth']),
  entry('0ac8:3410', 'ViMicro - Minoru3D', ['fix-bandwidth']),
  entry('0ac8:3420', 'ViMicro Venus - Minoru3D', ['fix-bandwidth']),
  entry('0bd3:0555', 'Ophir Optronics - SPCAM 620U', ['probe-minmax']),
  entry('0c45:6366', 'Sonix Technology 292A IPC AR0330', ['mjpeg-no-eof']),
  entry('0e8d:0004', 'MT6227', ['probe-minmax', 'probe-def']),
  entry('13d3:5103', 'IMC Networks (Medion Akoya)', ['stream-no-fid']),
  entry('152d:0310', 'JMicron USB2.0 XGA WebCam', ['probe-minmax']),
  entry('16d0:0ed1', 'Kurokesu C1 PRO', ['mjpeg-no-eof']),
  entry('174f:5212', 'Syntek (HP Spartan)', ['stream-no-fid']),
  entry('174f:5931', 'Syntek (Samsung Q310)', ['stream-no-fid']),
  entry('174f:8a12', 'Syntek (Packard Bell EasyNote MX52)', ['stream-no-fid']),
  entry('174f:8a31', 'Syntek (Asus F9SG)', ['stream-no-fid']),
  entry('174f:8a33', 'Syntek (Asus U3S)', ['stream-no-fid']),
  entry('174f:8a34', 'Syntek (JAOtech Smart Terminal)', ['stream-no-fid']),
  entry('17dc:0202', 'Miricle 307K', ['stream-no-fid']),
  entry('17ef:480b', 'Lenovo Thinkpad SL400/SL500', ['stream-no-fid']),
  entry('1871:0306', 'Aveo Technology USB 2.0 Camera', ['probe-minmax', 'probe-extrafields']),
  entry('18cd:cafe', 'Ecamm Pico iMage', ['probe-extrafields']),
  entry('18ec:3188', 'Manta MM-353 Plako', ['probe-minmax']),
  entry('18ec:3288', 'FSC WebCam V30S', ['probe-minmax']),
  entry('18ec:3290', 'Arkmicro unbranded', ['probe-def']),
  entry('19ab:1000', 'Bodelin ProScopeHR', ['status-interval'], 0x0126),
  entry('1b3b:2951', 'MSI StarCam 370i', ['probe-minmax']),
  entry('1b3f:2002', 'Generalplus Technology Inc. 808 Camera', ['probe-minmax']),
  entry('1c4f:3000', 'SiGma Micro USB Web Camera', ['probe-minmax']),
  entry('1fc9:009b', 'NXP Semiconductors IR VIDEO', ['probe-minmax']),
  entry('2833:0201', 'Oculus VR Positional Tracker DK2', ['force-y8']),
  entry('2833:0211', 'Oculus VR Rift Sensor', ['force-y8']),
];

export type QuirkSource = 'table' | 'option' | 'detected';

export interface AppliedQuirk {
  name: QuirkName;
  source: QuirkSource;
  /** Why: the table's model, 'openCamera option', or what the camera did. */
  reason: string;
}

export interface DeviceIdentity {
  vendorId: number;
  productId: number;
  /** bcdDevice; 0 when unknown. */
  deviceRelease: number;
}

const trace = debuglog('uvc');

/** The table entry for a device, if any. */
export function quirkTableEntry(device: DeviceIdentity, table: readonly QuirkTableEntry[] = QUIRK_TABLE): QuirkTableEntry | null {
  return (
    table.find(
      (e) =>
        e.vendorId === device.vendorId &&
        e.productId === device.productId &&
        (e.bcdDeviceMax === undefined || device.deviceRelease <= e.bcdDeviceMax),
    ) ?? null
  );
}

/** Checks a caller's quirk list: EINVAL naming the unknown entry and the known ones. */
export function validateQuirkNames(value: unknown, what = 'quirks'): QuirkName[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new UvcError('EINVAL', `${what} must be an array of quirk names`);
  for (const name of value) {
    if (!isQuirkName(name)) {
      throw new UvcError('EINVAL', `${what}: unknown quirk ${JSON.stringify(name)}; known: ${QUIRK_NAMES.join(', ')}`, {
        details: { quirk: name },
      });
    }
  }
  return [...new Set(value as QuirkName[])];
}

/**
 * The quirks in force for one camera: those its vid:pid and the caller name from the start, and those the driver
 * learns on the way. Each is traced once (NODE_DEBUG=uvc) when it takes effect.
 */
export class DeviceQuirks {
  private readonly applied = new Map<QuirkName, AppliedQuirk>();

  constructor(
    readonly label: string,
    initial: readonly AppliedQuirk[] = [],
  ) {
    for (const q of initial) this.add(q);
  }

  /** The quirks for a device: its table entry, then the caller's (validated) list. */
  static forDevice(device: DeviceIdentity, requested: readonly QuirkName[] = [], table: readonly QuirkTableEntry[] = QUIRK_TABLE): DeviceQuirks {
    const hex = (v: number) => v.toString(16).padStart(4, '0');
    const quirks = new DeviceQuirks(`${hex(device.vendorId)}:${hex(device.productId)}`);
    const listed = quirkTableEntry(device, table);
    if (listed) for (const name of listed.quirks) quirks.add({ name, source: 'table', reason: listed.model });
    for (const name of requested) quirks.add({ name, source: 'option', reason: 'openCamera option' });
    return quirks;
  }

  has(name: QuirkName): boolean {
    return this.applied.has(name);
  }

  /** The camera showed the behaviour: from now on the driver works around it. Returns true the first time. */
  detect(name: QuirkName, reason: string): boolean {
    if (this.applied.has(name)) return false;
    this.add({ name, source: 'detected', reason });
    return true;
  }

  list(): AppliedQuirk[] {
    return [...this.applied.values()].map((q) => ({ ...q }));
  }

  private add(quirk: AppliedQuirk): void {
    if (this.applied.has(quirk.name)) return;
    this.applied.set(quirk.name, quirk);
    trace('%s: quirk %s (%s: %s): %s', this.label, quirk.name, quirk.source, quirk.reason, QUIRKS[quirk.name]);
  }
}
