/**
 * Which automatic mode owns which control (uvcvideo's master/slave pairs in uvc_ctrl.c): while the mode is on, the
 * camera refuses the control (EBUSY) and may move it by itself. `check` hands a control over before testing it; the
 * preview greys its slider out and says which mode owns it.
 */
import type { ControlEntry, ControlValue } from '../uvc/index.js';

export interface ControlOwner {
  /** The owning control. */
  name: string;
  /** The value of the owner that hands the control over (for `check`). */
  manual: ControlValue | string;
  /** Whether a value of the owner leaves the control to the user. */
  isManual(value: ControlValue | null): boolean;
  /** What to do to take the control, for people. */
  howToTake: string;
}

/** UVC AE mode bits: 1 manual, 2 auto, 4 shutter priority (exposure time manual), 8 aperture priority (iris manual). */
const AE_MANUAL = 1;
const AE_SHUTTER_PRIORITY = 4;
const AE_APERTURE_PRIORITY = 8;

const off = (name: string): ControlOwner => ({ name, manual: false, isManual: (v) => v === false || v === 0, howToTake: `turn ${name} off` });

const OWNERS: Readonly<Record<string, ControlOwner>> = {
  exposure_time_absolute: {
    name: 'ae_mode',
    manual: 'manual',
    isManual: (v) => v === AE_MANUAL || v === AE_SHUTTER_PRIORITY,
    howToTake: 'set ae_mode to manual or shutter_priority',
  },
  iris_absolute: {
    name: 'ae_mode',
    manual: 'manual',
    isManual: (v) => v === AE_MANUAL || v === AE_APERTURE_PRIORITY,
    howToTake: 'set ae_mode to manual or aperture_priority',
  },
  white_balance_temperature: off('white_balance_temperature_auto'),
  white_balance_component: off('white_balance_component_auto'),
  focus_absolute: off('focus_auto'),
  hue: off('hue_auto'),
  contrast: off('contrast_auto'),
};

/** The mode that may own `control`, when the camera has that mode. */
export function ownerOf(control: Pick<ControlEntry, 'name'>, controls: readonly ControlEntry[]): (ControlOwner & { control: ControlEntry }) | null {
  const owner = OWNERS[control.name];
  if (owner === undefined) return null;
  const ownerControl = controls.find((c) => c.name === owner.name);
  return ownerControl === undefined ? null : { ...owner, control: ownerControl };
}

/** The mode that owns `control` right now (its value is not a manual one), or null when the user has it. */
export function activeOwnerOf(control: Pick<ControlEntry, 'name'>, controls: readonly ControlEntry[]): (ControlOwner & { control: ControlEntry }) | null {
  const owner = ownerOf(control, controls);
  if (owner === null || owner.control.value === null) return null;
  return owner.isManual(owner.control.value) ? null : owner;
}
