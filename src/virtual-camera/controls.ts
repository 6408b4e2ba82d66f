/**
 * The control model: which camera-terminal, processing-unit and extension-unit controls the camera has, their
 * ranges, defaults, GET_INFO capabilities and current values, the rules a SET_CUR must pass, and the automatic
 * modes that change controls by themselves (auto exposure, auto white balance, a privacy switch).
 */
import {
  AeMode,
  ControlInfo,
  CT_CONTROL_BIT,
  CT_CONTROL_REQUESTS,
  CT_CONTROL_SIZE,
  CtControl,
  PU_CONTROL_BIT,
  PU_CONTROL_REQUESTS,
  PU_CONTROL_SIZE,
  PuControl,
  RANGED_CONTROL_REQUESTS,
  RequestErrorCode,
  type ControlRequests,
} from '../spec/uvc.js';
import { CAMERA_TERMINAL_ID, EXTENSION_UNIT_ID, PROCESSING_UNIT_ID, XuControl } from './entities.js';
import { sceneLight, sceneTemperature } from './scene.js';
import type { FaceEntity } from './face.js';
import type { UvcVersion } from './types.js';

export interface ControlField {
  offset: number;
  size: 1 | 2 | 4;
  signed: boolean;
}

export type ControlKind = 'number' | 'boolean' | 'bitmap';

export interface ControlDefinition {
  name: string;
  entityId: number;
  selector: number;
  /** wLength of every request on it. */
  size: number;
  fields: ControlField[];
  kind: ControlKind;
  /**
   * The GET requests the specification defines for this control beyond GET_INFO and GET_CUR; the camera stalls
   * the others (booleans and bitmaps have no range, status controls no default). GET_LEN: extension units only.
   */
  requests: ControlRequests;
  min: number[];
  max: number[];
  /** For 'bitmap' controls, GET_RES is the bitmap of supported values. */
  res: number[];
  def: number[];
  writable: boolean;
  /** The device may change the value by itself (GET_INFO bit 3). */
  autoUpdate: boolean;
}

const u8: ControlField[] = [{ offset: 0, size: 1, signed: false }];
const u16: ControlField[] = [{ offset: 0, size: 2, signed: false }];
const s16: ControlField[] = [{ offset: 0, size: 2, signed: true }];
const u32: ControlField[] = [{ offset: 0, size: 4, signed: false }];
const panTilt: ControlField[] = [
  { offset: 0, size: 4, signed: true },
  { offset: 4, size: 4, signed: true },
];

/** Exposure (100 µs units) that gives the picture its nominal brightness in the nominal scene light. */
export const NOMINAL_EXPOSURE = 156;

function ranged(
  name: string,
  entityId: number,
  selector: number,
  fields: ControlField[],
  min: number[],
  max: number[],
  res: number[],
  def: number[],
  extra: Partial<ControlDefinition> = {},
): ControlDefinition {
  const size = fields.reduce((n, f) => Math.max(n, f.offset + f.size), 0);
  return { name, entityId, selector, size, fields, kind: 'number', requests: requestsOf(entityId, selector), min, max, res, def, writable: true, autoUpdate: false, ...extra };
}

function flag(name: string, entityId: number, selector: number, def: number, extra: Partial<ControlDefinition> = {}): ControlDefinition {
  return { name, entityId, selector, size: 1, fields: u8, kind: 'boolean', requests: requestsOf(entityId, selector), min: [0], max: [1], res: [1], def: [def], writable: true, autoUpdate: false, ...extra };
}

/** What the specification defines for the control (spec/uvc.ts); extension unit controls answer everything. */
function requestsOf(entityId: number, selector: number): ControlRequests {
  if (entityId === CAMERA_TERMINAL_ID) return CT_CONTROL_REQUESTS[selector] ?? RANGED_CONTROL_REQUESTS;
  if (entityId === PROCESSING_UNIT_ID) return PU_CONTROL_REQUESTS[selector] ?? RANGED_CONTROL_REQUESTS;
  return RANGED_CONTROL_REQUESTS;
}

export function controlDefinitions(version: UvcVersion): ControlDefinition[] {
  const ct = CAMERA_TERMINAL_ID;
  const pu = PROCESSING_UNIT_ID;
  const xu = EXTENSION_UNIT_ID;
  return [
    {
      name: 'ae_mode',
      entityId: ct,
      selector: CtControl.AE_MODE,
      size: 1,
      fields: u8,
      kind: 'bitmap',
      requests: requestsOf(ct, CtControl.AE_MODE),
      min: [0],
      max: [0],
      res: [AeMode.MANUAL | AeMode.APERTURE_PRIORITY],
      def: [AeMode.APERTURE_PRIORITY],
      writable: true,
      autoUpdate: false,
    },
    flag('ae_priority', ct, CtControl.AE_PRIORITY, 0),
    ranged('exposure_time_absolute', ct, CtControl.EXPOSURE_TIME_ABSOLUTE, u32, [1], [5000], [1], [NOMINAL_EXPOSURE], { autoUpdate: true }),
    ranged('pantilt_absolute', ct, CtControl.PANTILT_ABSOLUTE, panTilt, [-36000, -36000], [36000, 36000], [3600, 3600], [0, 0]),
    flag('privacy', ct, CtControl.PRIVACY, 0, { autoUpdate: true }),

    ranged('brightness', pu, PuControl.BRIGHTNESS, s16, [-64], [64], [1], [0]),
    ranged('contrast', pu, PuControl.CONTRAST, u16, [0], [200], [1], [100]),
    ranged('hue', pu, PuControl.HUE, s16, [-18000], [18000], [100], [0]),
    ranged('saturation', pu, PuControl.SATURATION, u16, [0], [200], [1], [100]),
    ranged('gamma', pu, PuControl.GAMMA, u16, [50], [300], [1], [100]),
    ranged('gain', pu, PuControl.GAIN, u16, [0], [100], [1], [0]),
    // UVC 1.5 adds 3 = auto to the 1.0/1.1 values 0 disabled, 1 50 Hz, 2 60 Hz.
    ranged('power_line_frequency', pu, PuControl.POWER_LINE_FREQUENCY, u8, [0], [version === '1.5' ? 3 : 2], [1], [1]),
    ranged('white_balance_temperature', pu, PuControl.WHITE_BALANCE_TEMPERATURE, u16, [2800], [6500], [10], [5000], { autoUpdate: true }),
    flag('white_balance_temperature_auto', pu, PuControl.WHITE_BALANCE_TEMPERATURE_AUTO, 1),

    ranged('test_pattern', xu, XuControl.TEST_PATTERN, u8, [0], [3], [1], [0]),
    ranged('motion_speed', xu, XuControl.MOTION_SPEED, u8, [0], [32], [1], [4]),
    ranged('frame_counter', xu, XuControl.FRAME_COUNTER, u32, [0], [0xffffffff], [1], [0], { writable: false, autoUpdate: true }),
  ];
}

/** The fields of a control of `size` bytes: whole 1-, 2- or 4-byte fields (a 3-byte control is three bytes). */
function genericFields(size: number): ControlField[] {
  const fields: ControlField[] = [];
  for (let offset = 0; offset < size; ) {
    const left = size - offset;
    const width: 1 | 2 | 4 = left >= 4 && offset % 4 === 0 ? 4 : left >= 2 && offset % 2 === 0 ? 2 : 1;
    fields.push({ offset, size: width, signed: false });
    offset += width;
  }
  return fields;
}

/** A standard or vendor control the picture does not follow: a plausible range, a default, nothing more. */
function genericControl(name: string, entityId: number, selector: number, size: number, requests: ControlRequests): ControlDefinition {
  const fields = genericFields(size);
  const max = fields.map((f) => (requests.range ? (f.size === 1 ? 255 : f.size === 2 ? 1000 : 100000) : 1));
  return {
    name,
    entityId,
    selector,
    size,
    fields,
    kind: requests.range ? 'number' : 'boolean',
    requests,
    min: fields.map(() => 0),
    max,
    res: fields.map(() => 1),
    def: fields.map(() => 0),
    writable: true,
    autoUpdate: false,
  };
}

function selectorsOf(bmControls: Uint8Array, selectorForBit: (bit: number) => number | undefined): number[] {
  const selectors: number[] = [];
  for (let bit = 0; bit < bmControls.length * 8; bit++) {
    if ((bmControls[bit >> 3]! & (1 << (bit & 7))) === 0) continue;
    const selector = selectorForBit(bit);
    if (selector !== undefined) selectors.push(selector);
  }
  return selectors;
}

const invert = (map: Readonly<Record<number, number>>) => new Map(Object.entries(map).map(([selector, bit]) => [bit, Number(selector)]));
const CT_SELECTOR_BY_BIT = invert(CT_CONTROL_BIT);
const PU_SELECTOR_BY_BIT = invert(PU_CONTROL_BIT);

/**
 * The controls a real camera's face declares (its units' bmControls): the ones this camera models (brightness,
 * exposure...) behave as they do here and move the picture, under the face's unit IDs; the others answer a generic
 * range; extension unit controls are 4-byte vendor values. Encoding units are not played (their requests stall).
 */
export function faceControlDefinitions(entities: readonly FaceEntity[], version: UvcVersion): ControlDefinition[] {
  const modelled = controlDefinitions(version);
  const out: ControlDefinition[] = [];
  const names = new Set<string>();
  const add = (def: ControlDefinition) => {
    let name = def.name;
    for (let n = 2; names.has(name); n++) name = `${def.name}_${n}`;
    names.add(name);
    out.push({ ...def, name });
  };
  for (const entity of entities) {
    if (entity.kind === 'camera-terminal' || entity.kind === 'processing-unit') {
      const camera = entity.kind === 'camera-terminal';
      const home = camera ? CAMERA_TERMINAL_ID : PROCESSING_UNIT_ID;
      for (const selector of selectorsOf(entity.bmControls, (bit) => (camera ? CT_SELECTOR_BY_BIT : PU_SELECTOR_BY_BIT).get(bit))) {
        const known = modelled.find((d) => d.entityId === home && d.selector === selector);
        if (known) {
          add({ ...known, entityId: entity.id });
          continue;
        }
        const size = (camera ? CT_CONTROL_SIZE : PU_CONTROL_SIZE)[selector] ?? 1;
        add(genericControl(`${camera ? 'ct' : 'pu'}${entity.id}_${selector}`, entity.id, selector, size, requestsOf(home, selector)));
      }
    } else if (entity.kind === 'extension-unit') {
      for (const selector of selectorsOf(entity.bmControls, (bit) => bit + 1)) {
        add(genericControl(`xu${entity.id}_${selector}`, entity.id, selector, 4, RANGED_CONTROL_REQUESTS));
      }
    } else if (entity.kind === 'selector-unit') {
      add({ ...genericControl(`su${entity.id}_input`, entity.id, 0x01, 1, RANGED_CONTROL_REQUESTS), min: [1], max: [1], def: [1] });
    }
  }
  return out;
}

/** bmControls of an entity's descriptor, `controlSize` bytes long. */
export function bmControlsOf(definitions: readonly ControlDefinition[], entityId: number, controlSize: number): Uint8Array {
  const bits = new Uint8Array(controlSize);
  for (const d of definitions) {
    if (d.entityId !== entityId) continue;
    const bit =
      entityId === CAMERA_TERMINAL_ID
        ? CT_CONTROL_BIT[d.selector]
        : entityId === PROCESSING_UNIT_ID
          ? PU_CONTROL_BIT[d.selector]
          : d.selector - 1; // extension units: bit n is selector n + 1
    if (bit === undefined || bit >= controlSize * 8) continue;
    bits[bit >> 3]! |= 1 << (bit & 7);
  }
  return bits;
}

export function encodeControlValue(def: ControlDefinition, values: readonly number[]): Uint8Array {
  const out = new Uint8Array(def.size);
  const view = new DataView(out.buffer);
  def.fields.forEach((f, i) => {
    const v = values[i] ?? 0;
    if (f.size === 1) view.setUint8(f.offset, v & 0xff);
    else if (f.size === 2) view.setUint16(f.offset, v & 0xffff, true);
    else if (f.signed) view.setInt32(f.offset, v | 0, true);
    else view.setUint32(f.offset, v >>> 0, true);
  });
  return out;
}

export function decodeControlValue(def: ControlDefinition, data: Uint8Array): number[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return def.fields.map((f) => {
    if (f.size === 1) return f.signed ? view.getInt8(f.offset) : view.getUint8(f.offset);
    if (f.size === 2) return f.signed ? view.getInt16(f.offset, true) : view.getUint16(f.offset, true);
    return f.signed ? view.getInt32(f.offset, true) : view.getUint32(f.offset, true);
  });
}

/** A control that changed by itself, for the status interrupt endpoint. */
export interface ControlChange {
  def: ControlDefinition;
  values: number[];
}

/** What the picture renderer needs to know of the controls. */
export interface PictureControls {
  brightness: number;
  contrast: number;
  hue: number;
  saturation: number;
  gamma: number;
  gain: number;
  powerLineFrequency: number;
  whiteBalanceTemperature: number;
  whiteBalanceAuto: boolean;
  exposure: number;
  aeMode: number;
  aePriority: number;
  pan: number;
  tilt: number;
  privacy: boolean;
  testPattern: number;
  motionSpeed: number;
}

export type SetResult = { ok: true; changed: boolean } | { ok: false; code: number };

const keyOf = (entityId: number, selector: number) => (entityId << 8) | selector;

/** How often (in frames) the automatic modes adjust their controls. */
const AUTO_ADJUST_EVERY = 5;

export class ControlModel {
  readonly definitions: readonly ControlDefinition[];
  private readonly byKey = new Map<number, ControlDefinition>();
  private readonly byName = new Map<string, ControlDefinition>();
  private readonly values = new Map<number, number[]>();
  private readonly computed = new Map<number, () => number[]>();
  /** Bumped on every change that alters the picture (frame caches key on it). */
  private version = 0;

  constructor(uvcVersion: UvcVersion, definitions: readonly ControlDefinition[] = controlDefinitions(uvcVersion)) {
    this.definitions = definitions;
    for (const d of this.definitions) {
      this.byKey.set(keyOf(d.entityId, d.selector), d);
      this.byName.set(d.name, d);
    }
    this.reset();
  }

  /** Power-on values. */
  reset(): void {
    for (const d of this.definitions) this.values.set(keyOf(d.entityId, d.selector), [...d.def]);
    this.version++;
  }

  get pictureVersion(): number {
    return this.version;
  }

  /** Controls whose value the device computes on every read (read-only status such as the frame counter). */
  provide(name: string, read: () => number[]): void {
    const d = this.byName.get(name);
    if (d === undefined) return;
    this.computed.set(keyOf(d.entityId, d.selector), read);
  }

  lookup(entityId: number, selector: number): ControlDefinition | undefined {
    return this.byKey.get(keyOf(entityId, selector));
  }

  definition(name: string): ControlDefinition {
    const d = this.byName.get(name);
    if (d === undefined) throw new RangeError(`no control named ${name}`);
    return d;
  }

  hasEntity(entityId: number): boolean {
    return this.definitions.some((d) => d.entityId === entityId);
  }

  current(def: ControlDefinition): number[] {
    const read = this.computed.get(keyOf(def.entityId, def.selector));
    if (read !== undefined) return read();
    return [...this.values.get(keyOf(def.entityId, def.selector))!];
  }

  /** The first field of a control; a camera without the control (a real camera's face) reads `absent`. */
  value(name: string, absent = 0): number {
    const d = this.byName.get(name);
    return d === undefined ? absent : this.current(d)[0]!;
  }

  private autoExposure(): boolean {
    const mode = this.value('ae_mode');
    return mode === AeMode.AUTO || mode === AeMode.APERTURE_PRIORITY;
  }

  private disabledByAuto(def: ControlDefinition): boolean {
    if (def.name === 'exposure_time_absolute') return this.autoExposure();
    if (def.name === 'white_balance_temperature') return this.value('white_balance_temperature_auto') === 1;
    return false;
  }

  /** GET_INFO: capabilities, plus bit 2 while an automatic mode owns the control. */
  info(def: ControlDefinition): number {
    let info = ControlInfo.SUPPORTS_GET;
    if (def.writable) info |= ControlInfo.SUPPORTS_SET;
    if (this.disabledByAuto(def)) info |= ControlInfo.DISABLED_BY_AUTO;
    if (def.autoUpdate) info |= ControlInfo.AUTOUPDATE;
    return info;
  }

  /** SET_CUR from the host: validates against the UVC rules and returns the REQUEST_ERROR_CODE on refusal. */
  set(def: ControlDefinition, values: number[]): SetResult {
    if (!def.writable) return { ok: false, code: RequestErrorCode.INVALID_REQUEST };
    if (this.disabledByAuto(def)) return { ok: false, code: RequestErrorCode.WRONG_STATE };
    for (let i = 0; i < def.fields.length; i++) {
      const v = values[i]!;
      if (def.kind === 'bitmap') {
        // Exactly one mode, and one the device supports (GET_RES).
        if (v === 0 || (v & (v - 1)) !== 0 || (v & def.res[i]!) === 0) return { ok: false, code: RequestErrorCode.INVALID_VALUE_WITHIN_RANGE };
        continue;
      }
      if (v < def.min[i]! || v > def.max[i]!) return { ok: false, code: RequestErrorCode.OUT_OF_RANGE };
      if ((v - def.min[i]!) % def.res[i]! !== 0) return { ok: false, code: RequestErrorCode.INVALID_VALUE_WITHIN_RANGE };
    }
    return { ok: true, changed: this.store(def, values, true) };
  }

  /** `picture`: whether frame caches must be dropped (automatic modes follow the scene, so their frames stay valid). */
  private store(def: ControlDefinition, values: readonly number[], picture: boolean): boolean {
    const key = keyOf(def.entityId, def.selector);
    const old = this.values.get(key)!;
    const next = def.fields.map((_, i) => values[i]!);
    const changed = next.some((v, i) => v !== old[i]);
    if (changed) {
      this.values.set(key, next);
      if (picture) this.version++;
    }
    return changed;
  }

  /** A change the device makes by itself (auto mode, a physical switch). Returns it if the value moved. */
  setByDevice(name: string, values: number[], picture = true): ControlChange | null {
    // A real camera's face may lack the control (an auto mode without its manual value): nothing changes.
    const def = this.byName.get(name);
    if (def === undefined) return null;
    return this.store(def, values, picture) ? { def, values: this.current(def) } : null;
  }

  /**
   * The automatic modes follow the scene as frame `sequence` is captured: auto exposure keeps the picture at
   * its nominal brightness, auto white balance tracks the light's colour temperature.
   */
  autoAdjust(sequence: number): ControlChange[] {
    if (sequence % AUTO_ADJUST_EVERY !== 0) return [];
    const changes: ControlChange[] = [];
    if (this.autoExposure()) {
      const target = Math.round(NOMINAL_EXPOSURE / sceneLight(sequence));
      const change = this.setByDevice('exposure_time_absolute', [target], false);
      if (change) changes.push(change);
    }
    if (this.value('white_balance_temperature_auto') === 1) {
      const target = Math.round(sceneTemperature(sequence) / 10) * 10;
      const change = this.setByDevice('white_balance_temperature', [target], false);
      if (change) changes.push(change);
    }
    return changes;
  }

  /**
   * The frame period the sensor can keep, in µs: the negotiated interval, stretched by a long exposure when
   * AE priority allows the device to vary the frame rate.
   */
  framePeriodUs(negotiatedUs: number): number {
    if (this.value('ae_priority') !== 1) return negotiatedUs;
    return Math.max(negotiatedUs, this.value('exposure_time_absolute', NOMINAL_EXPOSURE) * 100);
  }

  picture(): PictureControls {
    const panTilt = this.byName.get('pantilt_absolute');
    const [pan, tilt] = panTilt ? this.current(panTilt) : [0, 0];
    // A real camera's face may lack some of these: the picture then keeps its neutral value.
    return {
      brightness: this.value('brightness', 0),
      contrast: this.value('contrast', 100),
      hue: this.value('hue', 0),
      saturation: this.value('saturation', 100),
      gamma: this.value('gamma', 100),
      gain: this.value('gain', 0),
      powerLineFrequency: this.value('power_line_frequency', 1),
      whiteBalanceTemperature: this.value('white_balance_temperature', 5000),
      whiteBalanceAuto: this.value('white_balance_temperature_auto') === 1,
      exposure: this.value('exposure_time_absolute', NOMINAL_EXPOSURE),
      aeMode: this.value('ae_mode'),
      aePriority: this.value('ae_priority'),
      pan: pan!,
      tilt: tilt!,
      privacy: this.value('privacy') === 1,
      testPattern: this.value('test_pattern', 0),
      motionSpeed: this.value('motion_speed', 4),
    };
  }
}
