/**
 * The controls of a video function: discovered from the descriptors' bitmaps, their capabilities and ranges read
 * from the device, read and written by name, extension units reached raw.
 *
 * Discovery asks every declared control GET_INFO, then only what the specification defines for its type (the
 * `requests` of its catalog entry, uvc_ctrl.c's uvc_ctrls[] flags): GET_LEN of extension units, GET_MIN/GET_MAX/
 * GET_RES of controls with a range, GET_RES alone of AE mode (its bitmap), GET_DEF where defined, and GET_CUR when
 * it can be read. Booleans, bitmaps and status controls are never asked a range. Real cameras still stall some of
 * these (XUs choke on GET_RES): like uvcvideo we carry on, and record what was refused in `unsupported`. Only a
 * vanished device (ENODEV) or a closed handle stops the discovery.
 *
 * A SET_CUR the device acknowledges with fewer bytes than were sent fails (EPROTO, see requests.ts); values the
 * caller set are remembered so they can be written back to a camera that forgets them (restore-ctrls-on-init).
 */
import { isUvcError, UvcError } from '../errors.js';
import { ControlInfo } from '../spec/uvc.js';
import type { UsbTransport } from '../transport/usb-transport.js';
import {
  controlDefinition,
  extensionControlDefinition,
  type ControlDefinition,
  type ControlKind,
  type MenuEntry,
} from './control-catalog.js';
import { decodeControlValue, encodeControlValue, type CompoundValue, type ControlValue } from './control-codec.js';
import type { DeclaredControl, EntityType, UvcFunction, VcEntity } from './descriptors/model.js';
import { GET_REQUEST, getControl, setControl, type ControlAddress, type GetRequestName, type RequestOptions } from './requests.js';
import type { DeviceQuirks } from './quirks.js';
import type { StatusEvent } from './status.js';

export interface ControlFlags {
  get: boolean;
  set: boolean;
  autoUpdate: boolean;
  asynchronous: boolean;
  disabledByAuto: boolean;
  disabledByCommitState: boolean;
}

/** What every control entry has; `V` is the type of its values (min, max, step, default, value). */
interface ControlEntryOf<K extends ControlKind, V extends ControlValue> {
  name: string;
  /** The unit or terminal ID. */
  unit: number;
  unitType: EntityType;
  selector: number;
  type: K;
  /** Bytes on the wire (raw controls: GET_LEN's answer; 0 when unknown). */
  size: number;
  min: V | null;
  max: V | null;
  /** GET_RES (for ae_mode: the bitmap of supported modes). */
  step: V | null;
  default: V | null;
  /** The last value read or written; null when the control cannot be read. */
  value: V | null;
  /** Menu controls: the entries the device supports. */
  menu?: MenuEntry[];
  flags: ControlFlags;
  /** Queries the device refused or failed during discovery, e.g. ['GET_MIN', 'GET_MAX', 'GET_RES']. */
  unsupported: GetRequestName[];
}

export type IntegerControlEntry = ControlEntryOf<'integer', number>;
export type BooleanControlEntry = ControlEntryOf<'boolean', boolean>;
export type MenuControlEntry = ControlEntryOf<'menu', number> & { menu: MenuEntry[] };
export type CompoundControlEntry = ControlEntryOf<'compound', CompoundValue>;
export type RawControlEntry = ControlEntryOf<'raw', Uint8Array>;

/**
 * A control as the camera declared it, typed by `type`: after `if (c.type === 'integer')`, `c.max` is a number
 * (or null when the device would not say), so `c.max + 1` type-checks once null is ruled out.
 */
export type ControlEntry = IntegerControlEntry | BooleanControlEntry | MenuControlEntry | CompoundControlEntry | RawControlEntry;

/** The mutable record behind an entry (values of any kind); handed out as a ControlEntry copy. */
type ControlRecord = ControlEntryOf<ControlKind, ControlValue>;

export interface UvcControlsOptions {
  /** Per request; default 1000 ms (a control that never answers must not stall discovery for long). */
  timeoutMs?: number;
  /** The camera's quirks: a short SET_CUR acknowledgement is recorded as 'short-control-ack'. */
  quirks?: DeviceQuirks;
}

interface ControlState {
  entry: ControlRecord;
  definition: ControlDefinition;
}

/** What a control can do when GET_INFO does not say: the class's rules (read-only status controls aside, get + set). */
const READ_ONLY = new Set(['analog_video_standard', 'analog_lock_status']);

function flagsFromInfo(info: number): ControlFlags {
  return {
    get: (info & ControlInfo.SUPPORTS_GET) !== 0,
    set: (info & ControlInfo.SUPPORTS_SET) !== 0,
    disabledByAuto: (info & ControlInfo.DISABLED_BY_AUTO) !== 0,
    autoUpdate: (info & ControlInfo.AUTOUPDATE) !== 0,
    asynchronous: (info & ControlInfo.ASYNCHRONOUS) !== 0,
    disabledByCommitState: (info & ControlInfo.DISABLED_BY_COMMIT_STATE) !== 0,
  };
}

function copyValue(value: ControlValue | null): ControlValue | null {
  if (value instanceof Uint8Array) return value.slice();
  if (value !== null && typeof value === 'object') return { ...value };
  return value;
}

function copyEntry(entry: ControlRecord): ControlEntry {
  // The record's values are of its kind (decoded by the definition of that kind): the union's member by `type`.
  return {
    ...entry,
    min: copyValue(entry.min),
    max: copyValue(entry.max),
    step: copyValue(entry.step),
    default: copyValue(entry.default),
    value: copyValue(entry.value),
    ...(entry.menu === undefined ? {} : { menu: entry.menu.map((m) => ({ ...m })) }),
    flags: { ...entry.flags },
    unsupported: [...entry.unsupported],
  } as ControlEntry;
}

/** Discovery must stop when the device is gone or the handle closed; anything else is the control's problem. */
function fatalToDiscovery(error: unknown): boolean {
  return isUvcError(error, 'ENODEV') || isUvcError(error, 'EBADF');
}

export class UvcControls {
  private readonly states = new Map<string, ControlState>();
  private readonly byAddress = new Map<string, ControlState>();
  private readonly entities = new Map<number, VcEntity>();
  /** What the caller wrote, by control name (raw bytes), to write back to a camera that forgets it. */
  private readonly written = new Map<string, Uint8Array>();
  private readonly vcInterface: number;
  private readonly bcdUVC: number;

  private constructor(
    private readonly transport: UsbTransport,
    fn: UvcFunction,
    private readonly timeoutMs: number,
    private readonly quirks: DeviceQuirks | undefined,
  ) {
    this.vcInterface = fn.videoControl.interfaceNumber;
    this.bcdUVC = fn.bcdUVC;
    for (const entity of fn.videoControl.entities) if (!this.entities.has(entity.id)) this.entities.set(entity.id, entity);
  }

  /** Discovers every control `fn` declares (see the module comment). */
  static async create(transport: UsbTransport, fn: UvcFunction, options: UvcControlsOptions = {}): Promise<UvcControls> {
    const controls = new UvcControls(transport, fn, options.timeoutMs ?? 1000, options.quirks);
    for (const declared of fn.controls) await controls.discover(declared);
    return controls;
  }

  /** Every control, in descriptor order (copies: changing them changes nothing). */
  list(): ControlEntry[] {
    return [...this.states.values()].map((s) => copyEntry(s.entry));
  }

  has(name: string): boolean {
    return this.states.has(name);
  }

  info(name: string): ControlEntry {
    return copyEntry(this.state(name).entry);
  }

  /** Reads the current value from the device (GET_CUR). */
  async get(name: string): Promise<ControlValue> {
    const state = this.state(name);
    const { entry, definition } = state;
    if (!entry.flags.get) {
      throw new UvcError('EACCES', `${name} cannot be read (the device reports it write-only)`, { details: { control: name } });
    }
    const bytes = await getControl(this.transport, this.address(entry), GET_REQUEST.GET_CUR, this.wireSize(state), this.options(name));
    const value = decodeControlValue(definition, bytes, entry.size);
    entry.value = value;
    return copyValue(value)!;
  }

  /**
   * Writes a value (SET_CUR) after checking it against the control's type, range, step and menu: a bad value never
   * reaches the device (ERANGE, or EINVAL for the wrong shape). A device refusal comes back with the reason it gives.
   */
  async set(name: string, value: ControlValue | string): Promise<void> {
    const state = this.state(name);
    const { entry, definition } = state;
    if (!entry.flags.set) {
      throw new UvcError('EACCES', `${name} cannot be written (the device reports it read-only)`, { details: { control: name } });
    }
    const data = encodeControlValue(definition, value, {
      min: entry.min,
      max: entry.max,
      step: definition.resIsMenuMask === true ? null : entry.step,
      ...(entry.menu === undefined ? {} : { menu: entry.menu }),
      size: entry.size,
    });
    await this.write(entry.name, this.address(entry), data, this.options(name));
    entry.value = decodeControlValue(definition, data, entry.size);
  }

  /** Names of the controls the caller has set, in the order first set. */
  get modified(): string[] {
    return [...this.written.keys()];
  }

  /**
   * Writes every value the caller set back to the camera (uvc_ctrl_restore_values), for a camera that forgets them
   * when it starts streaming. Returns the names written; a control the camera refuses now is left as it is.
   */
  async restore(): Promise<string[]> {
    const restored: string[] = [];
    for (const [name, data] of this.written) {
      const state = this.states.get(name);
      const address = state ? this.address(state.entry) : null;
      if (!state || !address) continue;
      try {
        await setControl(this.transport, address, data, this.options(name));
        restored.push(name);
      } catch (error) {
        if (fatalToDiscovery(error)) throw error;
      }
    }
    return restored;
  }

  /**
   * Reads back the values the caller set (only those the camera does not change by itself) and returns the names
   * whose value the camera no longer holds: the evidence of a camera that forgets its controls.
   */
  async forgotten(): Promise<string[]> {
    const lost: string[] = [];
    for (const [name, data] of this.written) {
      const state = this.states.get(name);
      if (!state || !state.entry.flags.get || state.entry.flags.autoUpdate) continue;
      let bytes: Uint8Array;
      try {
        bytes = await getControl(this.transport, this.address(state.entry), GET_REQUEST.GET_CUR, this.wireSize(state), this.options(name));
      } catch (error) {
        if (fatalToDiscovery(error)) throw error;
        continue;
      }
      if (bytes.length < data.length || data.some((b, i) => bytes[i] !== b)) lost.push(name);
    }
    return lost;
  }

  /** SET_CUR, remembering the value for restore() and recording a short acknowledgement as a quirk. */
  private async write(name: string, address: ControlAddress, data: Uint8Array, options: RequestOptions): Promise<void> {
    try {
      await setControl(this.transport, address, data, options);
    } catch (error) {
      if (isUvcError(error, 'EPROTO') && error.details.shortWrite === true) {
        this.quirks?.detect('short-control-ack', `SET_CUR of ${name} acknowledged with ${String(error.details.accepted)} of ${data.length} bytes`);
      }
      throw error;
    }
    this.written.set(name, data.slice());
  }

  /**
   * Raw request to any unit's control (extension units above all). Without `length`, the known size of the control
   * is used, else GET_LEN is asked first.
   */
  async getRaw(unitId: number, selector: number, request: GetRequestName | number = 'GET_CUR', length?: number): Promise<Uint8Array> {
    this.entity(unitId);
    const code = typeof request === 'number' ? request : GET_REQUEST[request];
    if (code === undefined) throw new UvcError('EINVAL', `unknown request ${String(request)}`);
    const address = { interfaceNumber: this.vcInterface, entityId: unitId, selector };
    let size = length;
    if (size === undefined) {
      if (code === GET_REQUEST.GET_INFO) size = 1;
      else if (code === GET_REQUEST.GET_LEN) size = 2;
      else {
        const known = this.byAddress.get(`${unitId}:${selector}`);
        size = known !== undefined && known.entry.size > 0 ? known.entry.size : await this.readLength(unitId, selector);
      }
    }
    if (!Number.isInteger(size) || size < 1 || size > 0xffff) throw new UvcError('EINVAL', `length must be 1…65535, got ${size}`);
    return getControl(this.transport, address, code, size, this.options(`unit ${unitId} selector ${selector}`));
  }

  /** Raw SET_CUR to any unit's control. A known control insists on its size (EINVAL otherwise). */
  async setRaw(unitId: number, selector: number, data: Uint8Array): Promise<void> {
    this.entity(unitId);
    if (!(data instanceof Uint8Array) || data.length === 0) throw new UvcError('EINVAL', 'setRaw takes a non-empty Uint8Array');
    const known = this.byAddress.get(`${unitId}:${selector}`);
    if (known !== undefined && known.entry.size > 0 && data.length !== known.entry.size) {
      throw new UvcError('EINVAL', `${known.entry.name} is ${known.entry.size} bytes, ${data.length} given`, {
        details: { control: known.entry.name, size: known.entry.size, length: data.length },
      });
    }
    const label = known?.entry.name ?? `unit ${unitId} selector ${selector}`;
    await this.write(label, { interfaceNumber: this.vcInterface, entityId: unitId, selector }, data, this.options(label));
    if (known !== undefined) known.entry.value = decodeControlValue(known.definition, data, known.entry.size);
  }

  /** Re-reads every readable control's current value; returns the names whose value changed. */
  async refresh(): Promise<string[]> {
    const changed: string[] = [];
    for (const [name, state] of this.states) {
      if (!state.entry.flags.get) continue;
      const before = JSON.stringify(valueKey(state.entry.value));
      try {
        await this.get(name);
      } catch (error) {
        if (fatalToDiscovery(error)) throw error;
        continue;
      }
      if (JSON.stringify(valueKey(state.entry.value)) !== before) changed.push(name);
    }
    return changed;
  }

  /**
   * Applies a control-change event of the status endpoint to the cached entry. Returns the updated entry, or null
   * when the event is about nothing this object knows.
   */
  applyStatusEvent(event: StatusEvent): ControlEntry | null {
    if (event.type !== 'control') return null;
    const state = this.byAddress.get(`${event.originator}:${event.selector}`);
    if (state === undefined) return null;
    const { entry, definition } = state;
    try {
      switch (event.attribute) {
        case 'value':
          entry.value = decodeControlValue(definition, event.value, entry.size);
          break;
        case 'info':
          if (event.value.length >= 1) entry.flags = flagsFromInfo(event.value[0]!);
          break;
        case 'min':
          entry.min = decodeControlValue(definition, event.value, entry.size);
          break;
        case 'max':
          entry.max = decodeControlValue(definition, event.value, entry.size);
          break;
        default:
          break;
      }
    } catch (error) {
      if (!isUvcError(error, 'EPROTO')) throw error;
      return null; // a short value in the event: keep what we had
    }
    return copyEntry(entry);
  }

  private state(name: string): ControlState {
    const state = this.states.get(name);
    if (state === undefined) throw new UvcError('ENOENT', `no control named '${name}'`, { details: { control: name } });
    return state;
  }

  private entity(unitId: number): VcEntity {
    const entity = this.entities.get(unitId);
    if (entity === undefined) throw new UvcError('ENOENT', `no unit or terminal with ID ${unitId}`, { details: { unit: unitId } });
    return entity;
  }

  private address(entry: ControlRecord): { interfaceNumber: number; entityId: number; selector: number } {
    return { interfaceNumber: this.vcInterface, entityId: entry.unit, selector: entry.selector };
  }

  private options(label: string): RequestOptions {
    return { timeoutMs: this.timeoutMs, errorCodeInterface: this.vcInterface, label };
  }

  private wireSize(state: ControlState): number {
    return state.definition.kind === 'raw' ? (state.entry.size > 0 ? state.entry.size : 64) : state.definition.size;
  }

  private async readLength(unitId: number, selector: number): Promise<number> {
    const bytes = await getControl(this.transport, { interfaceNumber: this.vcInterface, entityId: unitId, selector }, GET_REQUEST.GET_LEN, 2, this.options(`unit ${unitId} selector ${selector}`));
    if (bytes.length < 2) throw new UvcError('EPROTO', `GET_LEN of unit ${unitId} selector ${selector} answered ${bytes.length} bytes`);
    return bytes[0]! | (bytes[1]! << 8);
  }

  /** One query of discovery: the bytes, or null when the device refused (recorded). */
  private async query(state: ControlState, request: GetRequestName, length: number): Promise<Uint8Array | null> {
    try {
      const bytes = await getControl(this.transport, this.address(state.entry), GET_REQUEST[request], length, { timeoutMs: this.timeoutMs });
      if (bytes.length === 0) throw new UvcError('EPROTO', 'empty answer');
      return bytes;
    } catch (error) {
      if (fatalToDiscovery(error)) throw error;
      state.entry.unsupported.push(request);
      return null;
    }
  }

  private decodeOrNull(state: ControlState, request: GetRequestName, bytes: Uint8Array | null): ControlValue | null {
    if (bytes === null) return null;
    try {
      return decodeControlValue(state.definition, bytes, state.entry.size);
    } catch (error) {
      if (!isUvcError(error, 'EPROTO')) throw error;
      state.entry.unsupported.push(request); // answered too short: as good as refused
      return null;
    }
  }

  private async discover(declared: DeclaredControl): Promise<void> {
    const definition =
      declared.entityType === 'extension-unit'
        ? extensionControlDefinition(declared.entityId, declared.selector)
        : controlDefinition(declared.entityType, declared.selector);
    if (definition === null) return;
    const entry: ControlRecord = {
      name: declared.name,
      unit: declared.entityId,
      unitType: declared.entityType,
      selector: declared.selector,
      type: definition.kind,
      size: definition.size,
      min: null,
      max: null,
      step: null,
      default: null,
      value: null,
      flags: { get: true, set: !READ_ONLY.has(definition.name), autoUpdate: false, asynchronous: false, disabledByAuto: false, disabledByCommitState: false },
      unsupported: [],
    };
    const state: ControlState = { entry, definition: { ...definition, name: declared.name } };
    this.states.set(declared.name, state);
    const key = `${declared.entityId}:${declared.selector}`;
    if (!this.byAddress.has(key)) this.byAddress.set(key, state);

    const info = await this.query(state, 'GET_INFO', 1);
    if (info !== null) entry.flags = flagsFromInfo(info[0]!);

    if (definition.hasLength) {
      const len = await this.query(state, 'GET_LEN', 2);
      const reported = len !== null && len.length >= 2 ? len[0]! | (len[1]! << 8) : null;
      if (definition.kind === 'raw' && reported !== null && reported > 0) entry.size = reported;
    }

    // Only the requests the specification defines for this control type (see the module comment).
    const size = this.wireSize(state);
    const { range, res, def } = definition.requests;
    if (range) {
      entry.min = this.decodeOrNull(state, 'GET_MIN', await this.query(state, 'GET_MIN', size));
      entry.max = this.decodeOrNull(state, 'GET_MAX', await this.query(state, 'GET_MAX', size));
    }
    if (range || res) entry.step = this.decodeOrNull(state, 'GET_RES', await this.query(state, 'GET_RES', size));
    if (def) entry.default = this.decodeOrNull(state, 'GET_DEF', await this.query(state, 'GET_DEF', size));
    if (entry.flags.get) entry.value = this.decodeOrNull(state, 'GET_CUR', await this.query(state, 'GET_CUR', size));
    if (definition.kind === 'raw' && entry.size === 0 && entry.value instanceof Uint8Array) entry.size = entry.value.length;

    if (definition.menu !== undefined) entry.menu = supportedMenu(definition, entry, this.bcdUVC);
  }
}

/**
 * The menu entries the device supports: AE mode's GET_RES bitmap, else the entries within GET_MIN…GET_MAX. Power line
 * frequency has no range to ask: UVC 1.5 defines 0–3 (3 = auto), earlier versions 0–2.
 */
function supportedMenu(definition: ControlDefinition, entry: ControlRecord, bcdUVC: number): MenuEntry[] {
  let all = definition.menu ?? [];
  if (definition.name === 'power_line_frequency' && bcdUVC < 0x0150) all = all.filter((m) => m.value <= 2);
  if (definition.resIsMenuMask === true) {
    const mask = typeof entry.step === 'number' ? entry.step : null;
    return all.filter((m) => mask === null || mask === 0 || (mask & m.value) !== 0).map((m) => ({ ...m }));
  }
  const lo = typeof entry.min === 'number' ? entry.min : null;
  const hi = typeof entry.max === 'number' ? entry.max : null;
  if (lo === null || hi === null || lo > hi) return all.map((m) => ({ ...m }));
  return all.filter((m) => m.value >= lo && m.value <= hi).map((m) => ({ ...m }));
}

function valueKey(value: ControlValue | null): unknown {
  return value instanceof Uint8Array ? Array.from(value) : value;
}
