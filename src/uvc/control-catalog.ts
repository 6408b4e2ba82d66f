/**
 * What the UVC specification says about each standard control: its name (the spec's name in lower snake case
 * without the unit prefix and `_CONTROL`), its selector, the bmControls bit that declares it, its wire layout and
 * its menu. Extension unit controls are vendor-defined: they are named `xu<unitId>_<selector>` and carried as raw
 * bytes sized by GET_LEN.
 */
import {
  CT_CONTROL_BIT,
  CT_CONTROL_REQUESTS,
  CtControl,
  PU_CONTROL_BIT,
  PU_CONTROL_REQUESTS,
  PuControl,
  RANGED_CONTROL_REQUESTS,
  type ControlRequests,
} from '../spec/uvc.js';
import type { EntityType } from './descriptors/model.js';

export type ControlKind = 'integer' | 'boolean' | 'menu' | 'compound' | 'raw';
export type FieldType = 'u8' | 's8' | 'u16' | 's16' | 'u32' | 's32';

export interface ControlField {
  /** 'value' for single-field controls; the member name of compound values ({ pan, tilt }, …). */
  name: string;
  type: FieldType;
  offset: number;
  /**
   * A relative-motion direction (−1, 0, +1: stop, one way, the other way). Its GET_MIN/GET_MAX describe speeds,
   * not this field, so it is checked against −1…1 only.
   */
  direction?: true;
}

export interface MenuEntry {
  value: number;
  name: string;
}

export interface ControlDefinition {
  name: string;
  entityType: EntityType;
  selector: number;
  kind: ControlKind;
  /** wLength of every request; for raw controls the usual size, GET_LEN has the last word. */
  size: number;
  fields: ControlField[];
  menu?: readonly MenuEntry[];
  /** AE mode: GET_RES is the bitmap of the modes the camera supports, not a step. */
  resIsMenuMask?: true;
  /**
   * The GET requests the specification defines for this control beyond GET_INFO and GET_CUR (spec/uvc.ts,
   * uvc_ctrl.c's uvc_ctrls[] flags): discovery asks nothing else, so booleans and bitmaps are never asked a range.
   */
  requests: ControlRequests;
  /** GET_LEN is defined (extension units only). */
  hasLength: boolean;
}

/** What the specification defines for an entity's control (standard tables; everything for XUs). */
export function requestsFor(entityType: EntityType, selector: number): ControlRequests {
  if (entityType === 'camera-terminal') return CT_CONTROL_REQUESTS[selector] ?? RANGED_CONTROL_REQUESTS;
  if (entityType === 'processing-unit') return PU_CONTROL_REQUESTS[selector] ?? RANGED_CONTROL_REQUESTS;
  return RANGED_CONTROL_REQUESTS;
}

const FIELD_SIZE: Readonly<Record<FieldType, number>> = { u8: 1, s8: 1, u16: 2, s16: 2, u32: 4, s32: 4 };

export function fieldSize(type: FieldType): number {
  return FIELD_SIZE[type];
}

function scalar(
  entityType: EntityType,
  name: string,
  selector: number,
  kind: 'integer' | 'boolean' | 'menu',
  type: FieldType,
  extra: Partial<ControlDefinition> = {},
): ControlDefinition {
  return {
    name,
    entityType,
    selector,
    kind,
    size: FIELD_SIZE[type],
    fields: [{ name: 'value', type, offset: 0 }],
    requests: requestsFor(entityType, selector),
    hasLength: entityType === 'extension-unit',
    ...extra,
  };
}

function compound(entityType: EntityType, name: string, selector: number, fields: [string, FieldType, boolean?][]): ControlDefinition {
  let offset = 0;
  const laid: ControlField[] = fields.map(([fieldName, type, direction]) => {
    const field: ControlField = { name: fieldName, type, offset };
    if (direction === true) field.direction = true;
    offset += FIELD_SIZE[type];
    return field;
  });
  return { name, entityType, selector, kind: 'compound', size: offset, fields: laid, requests: requestsFor(entityType, selector), hasLength: false };
}

function raw(entityType: EntityType, name: string, selector: number, size: number): ControlDefinition {
  return { name, entityType, selector, kind: 'raw', size, fields: [], requests: requestsFor(entityType, selector), hasLength: entityType === 'extension-unit' };
}

export const AE_MODE_MENU: readonly MenuEntry[] = [
  { value: 1, name: 'manual' },
  { value: 2, name: 'auto' },
  { value: 4, name: 'shutter_priority' },
  { value: 8, name: 'aperture_priority' },
];

export const POWER_LINE_FREQUENCY_MENU: readonly MenuEntry[] = [
  { value: 0, name: 'disabled' },
  { value: 1, name: '50hz' },
  { value: 2, name: '60hz' },
  { value: 3, name: 'auto' },
];

export const FOCUS_SIMPLE_MENU: readonly MenuEntry[] = [
  { value: 0, name: 'full_range' },
  { value: 1, name: 'macro' },
  { value: 2, name: 'people' },
  { value: 3, name: 'scene' },
];

const CT = 'camera-terminal' as const;
const PU = 'processing-unit' as const;
const SU = 'selector-unit' as const;
const EU = 'encoding-unit' as const;

export const CAMERA_TERMINAL_CONTROLS: readonly ControlDefinition[] = [
  scalar(CT, 'scanning_mode', CtControl.SCANNING_MODE, 'boolean', 'u8'),
  scalar(CT, 'ae_mode', CtControl.AE_MODE, 'menu', 'u8', { menu: AE_MODE_MENU, resIsMenuMask: true }),
  scalar(CT, 'ae_priority', CtControl.AE_PRIORITY, 'boolean', 'u8'),
  scalar(CT, 'exposure_time_absolute', CtControl.EXPOSURE_TIME_ABSOLUTE, 'integer', 'u32'),
  { ...scalar(CT, 'exposure_time_relative', CtControl.EXPOSURE_TIME_RELATIVE, 'integer', 's8'), fields: [{ name: 'value', type: 's8', offset: 0, direction: true }] },
  scalar(CT, 'focus_absolute', CtControl.FOCUS_ABSOLUTE, 'integer', 'u16'),
  compound(CT, 'focus_relative', CtControl.FOCUS_RELATIVE, [['focus', 's8', true], ['speed', 'u8']]),
  scalar(CT, 'focus_auto', CtControl.FOCUS_AUTO, 'boolean', 'u8'),
  scalar(CT, 'iris_absolute', CtControl.IRIS_ABSOLUTE, 'integer', 'u16'),
  { ...scalar(CT, 'iris_relative', CtControl.IRIS_RELATIVE, 'integer', 's8'), fields: [{ name: 'value', type: 's8', offset: 0, direction: true }] },
  scalar(CT, 'zoom_absolute', CtControl.ZOOM_ABSOLUTE, 'integer', 'u16'),
  compound(CT, 'zoom_relative', CtControl.ZOOM_RELATIVE, [['zoom', 's8', true], ['digital_zoom', 'u8'], ['speed', 'u8']]),
  compound(CT, 'pan_tilt_absolute', CtControl.PANTILT_ABSOLUTE, [['pan', 's32'], ['tilt', 's32']]),
  compound(CT, 'pan_tilt_relative', CtControl.PANTILT_RELATIVE, [
    ['pan', 's8', true],
    ['pan_speed', 'u8'],
    ['tilt', 's8', true],
    ['tilt_speed', 'u8'],
  ]),
  scalar(CT, 'roll_absolute', CtControl.ROLL_ABSOLUTE, 'integer', 's16'),
  compound(CT, 'roll_relative', CtControl.ROLL_RELATIVE, [['roll', 's8', true], ['speed', 'u8']]),
  scalar(CT, 'privacy', CtControl.PRIVACY, 'boolean', 'u8'),
  scalar(CT, 'focus_simple', CtControl.FOCUS_SIMPLE, 'menu', 'u8', { menu: FOCUS_SIMPLE_MENU }),
  compound(CT, 'digital_window', CtControl.WINDOW, [
    ['top', 'u16'],
    ['left', 'u16'],
    ['bottom', 'u16'],
    ['right', 'u16'],
    ['num_steps', 'u16'],
    ['num_steps_units', 'u16'],
  ]),
  compound(CT, 'region_of_interest', CtControl.REGION_OF_INTEREST, [
    ['top', 'u16'],
    ['left', 'u16'],
    ['bottom', 'u16'],
    ['right', 'u16'],
    ['auto_controls', 'u16'],
  ]),
];

export const PROCESSING_UNIT_CONTROLS: readonly ControlDefinition[] = [
  scalar(PU, 'backlight_compensation', PuControl.BACKLIGHT_COMPENSATION, 'integer', 'u16'),
  scalar(PU, 'brightness', PuControl.BRIGHTNESS, 'integer', 's16'),
  scalar(PU, 'contrast', PuControl.CONTRAST, 'integer', 'u16'),
  scalar(PU, 'gain', PuControl.GAIN, 'integer', 'u16'),
  scalar(PU, 'power_line_frequency', PuControl.POWER_LINE_FREQUENCY, 'menu', 'u8', { menu: POWER_LINE_FREQUENCY_MENU }),
  scalar(PU, 'hue', PuControl.HUE, 'integer', 's16'),
  scalar(PU, 'saturation', PuControl.SATURATION, 'integer', 'u16'),
  scalar(PU, 'sharpness', PuControl.SHARPNESS, 'integer', 'u16'),
  scalar(PU, 'gamma', PuControl.GAMMA, 'integer', 'u16'),
  scalar(PU, 'white_balance_temperature', PuControl.WHITE_BALANCE_TEMPERATURE, 'integer', 'u16'),
  scalar(PU, 'white_balance_temperature_auto', PuControl.WHITE_BALANCE_TEMPERATURE_AUTO, 'boolean', 'u8'),
  compound(PU, 'white_balance_component', PuControl.WHITE_BALANCE_COMPONENT, [['blue', 'u16'], ['red', 'u16']]),
  scalar(PU, 'white_balance_component_auto', PuControl.WHITE_BALANCE_COMPONENT_AUTO, 'boolean', 'u8'),
  scalar(PU, 'digital_multiplier', PuControl.DIGITAL_MULTIPLIER, 'integer', 'u16'),
  scalar(PU, 'digital_multiplier_limit', PuControl.DIGITAL_MULTIPLIER_LIMIT, 'integer', 'u16'),
  scalar(PU, 'hue_auto', PuControl.HUE_AUTO, 'boolean', 'u8'),
  scalar(PU, 'analog_video_standard', PuControl.ANALOG_VIDEO_STANDARD, 'integer', 'u8'),
  scalar(PU, 'analog_lock_status', PuControl.ANALOG_LOCK_STATUS, 'integer', 'u8'),
  scalar(PU, 'contrast_auto', PuControl.CONTRAST_AUTO, 'boolean', 'u8'),
];

/** SU_INPUT_SELECT_CONTROL: every selector unit has it; no bitmap declares it. */
export const SELECTOR_UNIT_CONTROLS: readonly ControlDefinition[] = [scalar(SU, 'input_select', 0x01, 'integer', 'u8')];

/**
 * Encoding unit (UVC 1.5): bmControls bit n declares selector n + 1. The layouts differ per control and matter
 * only to H.264/VP8 encoder tuning, so they travel as raw bytes (GET_LEN gives the size).
 */
export const ENCODING_UNIT_CONTROLS: readonly ControlDefinition[] = [
  raw(EU, 'select_layer', 0x01, 2),
  raw(EU, 'profile_toolset', 0x02, 6),
  raw(EU, 'video_resolution', 0x03, 4),
  raw(EU, 'min_frame_interval', 0x04, 4),
  raw(EU, 'slice_mode', 0x05, 4),
  raw(EU, 'rate_control_mode', 0x06, 1),
  raw(EU, 'average_bitrate', 0x07, 4),
  raw(EU, 'cpb_size', 0x08, 4),
  raw(EU, 'peak_bit_rate', 0x09, 4),
  raw(EU, 'quantization_params', 0x0a, 6),
  raw(EU, 'sync_ref_frame', 0x0b, 4),
  raw(EU, 'ltr_buffer', 0x0c, 2),
  raw(EU, 'ltr_picture', 0x0d, 2),
  raw(EU, 'ltr_validation', 0x0e, 2),
  raw(EU, 'level_idc_limit', 0x0f, 1),
  raw(EU, 'sei_payloadtype', 0x10, 8),
  raw(EU, 'qp_range', 0x11, 2),
  raw(EU, 'priority', 0x12, 1),
  raw(EU, 'start_or_stop_layer', 0x13, 1),
  raw(EU, 'error_resiliency', 0x14, 2),
];

function bySelector(list: readonly ControlDefinition[]): Map<number, ControlDefinition> {
  return new Map(list.map((d) => [d.selector, d]));
}

function invert(map: Readonly<Record<number, number>>): Map<number, number> {
  return new Map(Object.entries(map).map(([selector, bit]) => [bit, Number(selector)]));
}

const CT_BY_SELECTOR = bySelector(CAMERA_TERMINAL_CONTROLS);
const PU_BY_SELECTOR = bySelector(PROCESSING_UNIT_CONTROLS);
const SU_BY_SELECTOR = bySelector(SELECTOR_UNIT_CONTROLS);
const EU_BY_SELECTOR = bySelector(ENCODING_UNIT_CONTROLS);
const CT_SELECTOR_BY_BIT = invert(CT_CONTROL_BIT);
const PU_SELECTOR_BY_BIT = invert(PU_CONTROL_BIT);

/** The standard control an entity's selector names, or null (extension units, unknown selectors). */
export function controlDefinition(entityType: EntityType, selector: number): ControlDefinition | null {
  switch (entityType) {
    case 'camera-terminal':
      return CT_BY_SELECTOR.get(selector) ?? null;
    case 'processing-unit':
      return PU_BY_SELECTOR.get(selector) ?? null;
    case 'selector-unit':
      return SU_BY_SELECTOR.get(selector) ?? null;
    case 'encoding-unit':
      return EU_BY_SELECTOR.get(selector) ?? null;
    default:
      return null;
  }
}

/**
 * The selector a bmControls bit declares: the camera terminal and processing unit maps are not "bit + 1"
 * (see CT_CONTROL_BIT, PU_CONTROL_BIT); extension and encoding units are. Null for reserved bits.
 */
export function selectorForBit(entityType: EntityType, bit: number): number | null {
  switch (entityType) {
    case 'camera-terminal':
      return CT_SELECTOR_BY_BIT.get(bit) ?? null;
    case 'processing-unit':
      return PU_SELECTOR_BY_BIT.get(bit) ?? null;
    case 'encoding-unit':
      return EU_BY_SELECTOR.has(bit + 1) ? bit + 1 : null;
    case 'extension-unit':
      return bit + 1;
    default:
      return null;
  }
}

export function extensionControlName(unitId: number, selector: number): string {
  return `xu${unitId}_${selector}`;
}

/** The raw-bytes definition of an extension unit control (size unknown until GET_LEN). */
export function extensionControlDefinition(unitId: number, selector: number): ControlDefinition {
  return raw('extension-unit', extensionControlName(unitId, selector), selector, 0);
}
