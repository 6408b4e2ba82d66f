/**
 * Control values between their wire form (little-endian fields, signed where the class says so) and JavaScript:
 * numbers, booleans, `{ pan, tilt }`-style objects for compound controls, bytes for raw ones. Also the checks a
 * value passes before it is sent: type bounds, the device's range and step, the menu.
 */
import { UvcError } from '../errors.js';
import { fieldSize, type ControlDefinition, type ControlField, type FieldType, type MenuEntry } from './control-catalog.js';

export type CompoundValue = Readonly<Record<string, number>>;
export type ControlValue = number | boolean | CompoundValue | Uint8Array;

const BOUNDS: Readonly<Record<FieldType, readonly [number, number]>> = {
  u8: [0, 0xff],
  s8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  s16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  s32: [-0x80000000, 0x7fffffff],
};

export function fieldBounds(field: ControlField): readonly [number, number] {
  return field.direction === true ? [-1, 1] : BOUNDS[field.type];
}

function readField(bytes: Uint8Array, field: ControlField): number {
  const at = field.offset;
  switch (field.type) {
    case 'u8':
      return bytes[at]!;
    case 's8':
      return (bytes[at]! << 24) >> 24;
    case 'u16':
      return bytes[at]! | (bytes[at + 1]! << 8);
    case 's16':
      return ((bytes[at]! | (bytes[at + 1]! << 8)) << 16) >> 16;
    case 'u32':
      return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
    case 's32':
      return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
  }
}

function writeField(out: Uint8Array, field: ControlField, value: number): void {
  const v = value >>> 0;
  for (let i = 0; i < fieldSize(field.type); i++) out[field.offset + i] = (v >>> (8 * i)) & 0xff;
}

/** Wire bytes → value. A shorter answer than the control's size is a protocol error (EPROTO). */
export function decodeControlValue(definition: ControlDefinition, bytes: Uint8Array, size = definition.size): ControlValue {
  if (definition.kind === 'raw') return bytes.slice(0, size > 0 ? size : bytes.length);
  if (bytes.length < definition.size) {
    throw new UvcError('EPROTO', `${definition.name}: the device answered ${bytes.length} bytes, ${definition.size} expected`, {
      details: { control: definition.name, length: bytes.length, expected: definition.size },
    });
  }
  if (definition.kind === 'compound') {
    const value: Record<string, number> = {};
    for (const field of definition.fields) value[field.name] = readField(bytes, field);
    return value;
  }
  const number = readField(bytes, definition.fields[0]!);
  return definition.kind === 'boolean' ? number !== 0 : number;
}

/** The numbers of a value, field by field (booleans as 0/1). */
export function fieldValues(definition: ControlDefinition, value: ControlValue | null): Record<string, number> | null {
  if (value === null || value instanceof Uint8Array) return null;
  if (typeof value === 'boolean') return { value: value ? 1 : 0 };
  if (typeof value === 'number') return { value };
  return definition.kind === 'compound' ? { ...value } : null;
}

export interface ValueLimits {
  min: ControlValue | null;
  max: ControlValue | null;
  step: ControlValue | null;
  /** The menu entries the device supports (menu controls). */
  menu?: readonly MenuEntry[];
  /** Raw controls: the size the device reported. */
  size: number;
}

function rangeError(name: string, message: string, details: Record<string, unknown>): UvcError {
  return new UvcError('ERANGE', `${name}: ${message}`, { details: { control: name, ...details } });
}

/**
 * Checks `value` against the control's type, the device's range and step and its menu, and encodes it.
 * Menu controls take a number or an entry name ('50hz', 'manual'). Throws EINVAL for a value of the wrong shape,
 * ERANGE for one outside what the control accepts.
 */
export function encodeControlValue(definition: ControlDefinition, input: ControlValue | string, limits: ValueLimits): Uint8Array {
  const name = definition.name;
  if (definition.kind === 'raw') {
    if (!(input instanceof Uint8Array)) throw new UvcError('EINVAL', `${name}: raw controls take a Uint8Array`, { details: { control: name } });
    if (limits.size > 0 && input.length !== limits.size) {
      throw new UvcError('EINVAL', `${name}: ${input.length} bytes given, the control is ${limits.size} bytes`, {
        details: { control: name, length: input.length, size: limits.size },
      });
    }
    return input.slice();
  }

  let value: ControlValue | string = input;
  if (definition.kind === 'menu' && typeof value === 'string') {
    // Labels are matched case-insensitively ('50Hz', '50hz'), as the CLI takes them.
    const wanted = value.toLowerCase();
    const entry = (limits.menu ?? definition.menu ?? []).find((e) => e.name.toLowerCase() === wanted);
    if (entry === undefined) {
      throw rangeError(name, `'${value}' is not one of ${(limits.menu ?? definition.menu ?? []).map((e) => e.name).join(', ')}`, { value });
    }
    value = entry.value;
  }
  if (definition.kind === 'boolean' && typeof value === 'boolean') value = value ? 1 : 0;

  let fields: Record<string, number>;
  if (definition.kind === 'compound') {
    if (typeof value !== 'object' || value === null || value instanceof Uint8Array) {
      throw new UvcError('EINVAL', `${name} takes { ${definition.fields.map((f) => f.name).join(', ')} }`, { details: { control: name } });
    }
    const given = value as Record<string, unknown>;
    const unknown = Object.keys(given).filter((k) => !definition.fields.some((f) => f.name === k));
    const missing = definition.fields.filter((f) => typeof given[f.name] !== 'number').map((f) => f.name);
    if (unknown.length > 0 || missing.length > 0) {
      throw new UvcError('EINVAL', `${name} takes { ${definition.fields.map((f) => f.name).join(', ')} }${missing.length > 0 ? `; missing ${missing.join(', ')}` : ''}${unknown.length > 0 ? `; unknown ${unknown.join(', ')}` : ''}`, {
        details: { control: name },
      });
    }
    fields = Object.fromEntries(definition.fields.map((f) => [f.name, given[f.name] as number]));
  } else {
    if (typeof value !== 'number') {
      throw new UvcError('EINVAL', `${name} takes a ${definition.kind === 'boolean' ? 'boolean' : 'number'}`, { details: { control: name, value } });
    }
    fields = { value };
  }

  const min = fieldValues(definition, limits.min);
  const max = fieldValues(definition, limits.max);
  const step = fieldValues(definition, limits.step);
  const out = new Uint8Array(definition.size);
  for (const field of definition.fields) {
    const v = fields[field.name]!;
    // "pan_tilt_absolute: pan 999 is …", "brightness: 999 is …" (the control's name once).
    const label = definition.fields.length > 1 ? `${field.name} ${v}` : `${v}`;
    if (!Number.isInteger(v)) throw new UvcError('EINVAL', `${name}: ${label} is not an integer`, { details: { control: name, field: field.name, value: v } });
    // The device's range first: it is the one the user can act on (the wire type's bounds are wider).
    const ranged = field.direction !== true && definition.kind !== 'menu' && definition.kind !== 'boolean';
    const fMin = ranged ? min?.[field.name] : undefined;
    const fMax = ranged ? max?.[field.name] : undefined;
    if (fMin !== undefined && fMax !== undefined && fMin <= fMax && (v < fMin || v > fMax)) {
      throw rangeError(name, `${label} is outside the device's range ${fMin}…${fMax}`, { field: field.name, value: v, min: fMin, max: fMax });
    }
    const [lo, hi] = fieldBounds(field);
    if (v < lo || v > hi) throw rangeError(name, `${label} is outside ${lo}…${hi}`, { field: field.name, value: v, min: lo, max: hi });
    if (ranged) {
      const fStep = step?.[field.name];
      if (fStep !== undefined && fStep > 1 && fMin !== undefined && (v - fMin) % fStep !== 0) {
        throw rangeError(name, `${label} is not on the device's step of ${fStep} from ${fMin}`, { field: field.name, value: v, step: fStep, min: fMin });
      }
    }
    if (definition.kind === 'boolean' && v !== 0 && v !== 1) throw rangeError(name, `must be true/false or 0/1, got ${v}`, { value: v });
    if (definition.kind === 'menu') {
      const menu = limits.menu ?? definition.menu ?? [];
      if (!menu.some((e) => e.value === v)) {
        throw rangeError(name, `${v} is not one of ${menu.map((e) => `${e.value} (${e.name})`).join(', ')}`, { value: v });
      }
    }
    writeField(out, field, v);
  }
  return out;
}
