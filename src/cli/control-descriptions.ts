/**
 * Controls as people read them: a label ("White balance temperature, auto"), the unit of its numbers, and for
 * extension units (xu3_1) the unit's purpose when its GUID is a known one (Logitech's, Microsoft's, the UVC H.264
 * unit, our virtual camera's), with the selector's name where it is documented, and the control's size.
 */
import type { ControlEntry, UvcDescriptors } from '../uvc/index.js';

interface KnownUnit {
  name: string;
  /** Selector → name, where the unit's owner documents them. */
  selectors?: Readonly<Record<number, string>>;
}

/**
 * Extension units by guidExtensionCode (textual form). Sources: Linux include/linux/usb/uvc.h (Logitech, Microsoft),
 * the UVC H.264 payload specification (UVCX_* selectors), Microsoft's "USB Video Class extensions 1.5" (MSXU
 * selectors), and src/virtual-camera/entities.ts for our own.
 */
export const KNOWN_EXTENSION_UNITS: Readonly<Record<string, KnownUnit>> = {
  '63610682-5070-49ab-b8cc-b3855e8d221e': { name: 'Logitech device information' },
  '63610682-5070-49ab-b8cc-b3855e8d221f': { name: 'Logitech user hardware control' },
  '63610682-5070-49ab-b8cc-b3855e8d2250': { name: 'Logitech video' },
  '63610682-5070-49ab-b8cc-b3855e8d2256': { name: 'Logitech motor control' },
  'ffe52d21-8030-4e2c-82d9-f587d00540bd': { name: 'Logitech peripheral' },
  'a29e7641-de04-47e3-8b2b-f4341aff003b': {
    name: 'UVC H.264 encoder',
    selectors: {
      1: 'video config probe',
      2: 'video config commit',
      3: 'rate control mode',
      4: 'temporal scale mode',
      5: 'spatial scale mode',
      6: 'SNR scale mode',
      7: 'LTR buffer size',
      8: 'LTR picture',
      9: 'picture type',
      10: 'version',
      11: 'encoder reset',
      12: 'frame rate config',
      13: 'video advance config',
      14: 'bitrate layers',
      15: 'QP steps layers',
    },
  },
  '0f3f95dc-2632-4c4e-92c9-a04782f43bc8': {
    name: 'Microsoft camera control (MSXU)',
    selectors: {
      1: 'focus',
      2: 'exposure',
      3: 'EV compensation',
      4: 'white balance',
      6: 'face authentication',
      7: 'camera extrinsics',
      8: 'camera intrinsics',
      9: 'metadata',
      10: 'IR torch',
      11: 'digital window',
      12: 'digital window config',
      13: 'video HDR',
      14: 'frame rate throttle',
      15: 'field of view 2 config',
      16: 'field of view 2',
    },
  },
  '6b1d3a9e-4c2f-4e7a-9f5d-7a3c0b8e2d14': {
    name: 'uvc-capture virtual camera',
    selectors: { 1: 'test pattern', 2: 'motion speed', 3: 'frame counter' },
  },
};

/** Units of the class's controls, as the UVC specification states them. */
const UNITS: Readonly<Record<string, string>> = {
  exposure_time_absolute: '100 µs',
  white_balance_temperature: 'K',
  pan_tilt_absolute: 'arc-seconds',
  pan_absolute: 'arc-seconds',
  tilt_absolute: 'arc-seconds',
  roll_absolute: 'degrees',
  hue: '1/100 degree',
  focus_absolute: 'mm',
  iris_absolute: 'f-stop × 100',
  zoom_absolute: 'steps',
};

const WORDS: Readonly<Record<string, string>> = { ae: 'auto exposure', wb: 'white balance' };

function humanize(name: string): string {
  name = name.replace(/^pan_tilt_/, 'pan/tilt_');
  const words = name.split('_').map((w) => WORDS[w] ?? w);
  const auto = words.at(-1) === 'auto' && words.length > 1;
  if (auto) words.pop();
  if (words.at(-1) === 'absolute' && words.length > 1) words.pop();
  const text = words.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}${auto ? ', auto' : ''}`;
}

/** The GUID of the extension unit a control belongs to, when it is one. */
export function extensionGuidOf(control: Pick<ControlEntry, 'unit' | 'unitType'>, descriptors: UvcDescriptors | null): string | null {
  if (control.unitType !== 'extension-unit' || descriptors === null) return null;
  for (const fn of descriptors.functions) {
    const entity = fn.videoControl.entities.find((e) => e.id === control.unit);
    if (entity?.type === 'extension-unit') return entity.guid;
  }
  return null;
}

export interface ControlDescription {
  /** What a person reads: "White balance temperature, auto", "uvc-capture virtual camera: test pattern". */
  label: string;
  /** Everything else, for a tooltip: the name, the unit of its numbers, where it lives, its size. */
  details: string;
  /** Unit of its numbers, when the class defines one. */
  unit: string | null;
}

export function describeControl(control: ControlEntry, descriptors: UvcDescriptors | null): ControlDescription {
  const size = `${control.size} byte${control.size === 1 ? '' : 's'}`;
  if (control.unitType === 'extension-unit') {
    const guid = extensionGuidOf(control, descriptors);
    const known = guid === null ? undefined : KNOWN_EXTENSION_UNITS[guid];
    const selector = known?.selectors?.[control.selector];
    const label = known ? `${known.name}: ${selector ?? `selector ${control.selector}`}` : `Extension unit ${control.unit}, selector ${control.selector}`;
    const where = `extension unit ${control.unit}${guid ? ` {${guid}}` : ''}${known ? ` (${known.name})` : ' (vendor-defined: its meaning is not published)'}`;
    return { label, details: `${control.name}: ${where}, selector ${control.selector}, ${control.size > 0 ? size : 'size unknown'}`, unit: null };
  }
  const unit = UNITS[control.name] ?? null;
  return {
    label: humanize(control.name),
    details: `${control.name}: ${control.type}${unit ? ` in ${unit}` : ''}, ${control.unitType} ${control.unit}, selector ${control.selector}, ${size}`,
    unit,
  };
}
