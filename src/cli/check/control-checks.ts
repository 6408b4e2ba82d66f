/**
 * Every control: GET works; SET of its minimum, maximum and default (every entry of a menu, both states of a
 * switch) reads back the same; a value past its range is refused by the camera itself (UVC: a STALL with "out of
 * range"). A control an automatic mode owns is tried with that mode off. Every value is put back afterwards.
 */
import { isUvcError } from '../../errors.js';
import type { Camera } from '../../camera/index.js';
import type { ControlEntry, ControlValue } from '../../uvc/index.js';
import { ownerOf } from '../control-owners.js';
import { formatControlValue } from '../control-values.js';
import { errorText, type CheckReport } from './check-results.js';

function same(a: ControlValue | null, b: ControlValue | null): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((v, i) => v === b[i]);
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    return JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
  }
  if (typeof a === 'boolean' || typeof b === 'boolean') return Number(a) === Number(b);
  return a === b;
}

function unique(values: (ControlValue | null)[]): ControlValue[] {
  const out: ControlValue[] = [];
  for (const v of values) if (v !== null && !out.some((o) => same(o, v))) out.push(v);
  return out;
}

function valuesToTry(control: ControlEntry, original: ControlValue): ControlValue[] {
  switch (control.type) {
    case 'boolean':
      return [!original, original].map((v) => Boolean(v));
    case 'menu':
      return unique((control.menu ?? []).map((m) => m.value));
    case 'raw':
      return [original];
    default:
      return unique([control.min, control.max, control.default]);
  }
}

/** Little-endian bytes of an integer scalar control just past its maximum, or null when its type cannot hold one. */
function pastMaximum(control: ControlEntry): Uint8Array | null {
  if (control.type !== 'integer' || typeof control.max !== 'number' || control.size < 1 || control.size > 4) return null;
  const value = control.max + 1;
  const signed = typeof control.min === 'number' && control.min < 0;
  const limit = signed ? 2 ** (8 * control.size - 1) - 1 : 2 ** (8 * control.size) - 1;
  if (value > limit) return null;
  const bytes = new Uint8Array(control.size);
  for (let i = 0, v = value; i < control.size; i++, v = Math.floor(v / 256)) bytes[i] = v & 0xff;
  return bytes;
}

async function roundTrip(camera: Camera, control: ControlEntry, report: CheckReport): Promise<void> {
  const name = `control ${control.name}`;
  if (control.name.endsWith('_relative')) {
    report.add('controls', name, 'skip', 'a relative (motion) control: it moves the camera and reads back nothing to compare');
    return;
  }
  if (!control.flags.get) {
    report.add('controls', name, 'skip', 'cannot be read (GET not supported)');
    return;
  }
  let original: ControlValue;
  try {
    original = await camera.getControl(control.name);
  } catch (error) {
    report.add('controls', name, 'fail', `GET_CUR failed: ${errorText(error)}`);
    return;
  }
  if (!control.flags.set) {
    report.add('controls', name, 'pass', `read-only; reads ${formatControlValue(original, control)}`);
    return;
  }

  const owning = ownerOf(control, camera.controls);
  const owner = owning !== null && owning.control.flags.set && owning.control.flags.get ? owning : null;
  const ownerControl = owner?.control;
  let ownerOriginal: ControlValue | null = null;
  const problems: string[] = [];
  const tried: string[] = [];
  try {
    if (owner && ownerControl) {
      ownerOriginal = await camera.getControl(owner.name);
      await camera.setControl(owner.name, owner.manual);
    }
    for (const value of valuesToTry(control, original)) {
      try {
        await camera.setControl(control.name, value);
        const back = await camera.getControl(control.name);
        tried.push(formatControlValue(value, control));
        if (!same(back, value)) problems.push(`set ${formatControlValue(value, control)}, read back ${formatControlValue(back, control)}`);
      } catch (error) {
        problems.push(`set ${formatControlValue(value, control)}: ${errorText(error)}`);
      }
    }
  } catch (error) {
    problems.push(`handing it over from ${owner?.name}: ${errorText(error)}`);
  }

  let outOfRange: string | null = null;
  const past = pastMaximum(control);
  if (past !== null && problems.length === 0) {
    try {
      await camera.setControlRaw(control.unit, control.selector, past);
      outOfRange = `accepted ${control.max as number} + 1 (UVC says: stall with "out of range")`;
    } catch (error) {
      if (!isUvcError(error, 'ERANGE') && !isUvcError(error, 'EPIPE') && !isUvcError(error, 'EINVAL')) problems.push(`out-of-range SET: ${errorText(error)}`);
    }
  }

  // Put everything back as it was, the owning mode last (it may move the control again by itself).
  try {
    await camera.setControl(control.name, original);
  } catch (error) {
    problems.push(`restoring ${formatControlValue(original, control)}: ${errorText(error)}`);
  }
  if (owner && ownerControl && ownerOriginal !== null) {
    await camera.setControl(owner.name, ownerOriginal).catch((error: unknown) => problems.push(`restoring ${owner.name}: ${errorText(error)}`));
  }

  const via = owner && ownerControl ? ` (with ${owner.name} = ${formatControlValue(owner.manual as ControlValue)})` : '';
  if (problems.length > 0) report.add('controls', name, 'fail', problems.join('; '));
  else if (outOfRange) report.add('controls', name, 'warn', `round-trips ${tried.join(', ')}${via}; but ${outOfRange}`);
  else report.add('controls', name, 'pass', `round-trips ${tried.join(', ')}${via}${past ? '; refuses max + 1' : ''}; restored ${formatControlValue(original, control)}`);
}

export async function checkControls(camera: Camera, report: CheckReport): Promise<void> {
  const controls = camera.controls;
  if (controls.length === 0) {
    report.add('controls', 'controls', 'skip', 'the camera declares no controls');
    return;
  }
  for (const control of controls) await roundTrip(camera, control, report);
}
