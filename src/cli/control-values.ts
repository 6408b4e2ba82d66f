/**
 * Control values as people type and read them: `--set brightness=40`, `--set power_line_frequency=50hz` (a menu
 * label), `--set white_balance_temperature_auto=off`, `--set pan_tilt_absolute=pan=3600,tilt=0`.
 */
import { isUvcError } from '../errors.js';
import type { Camera } from '../camera/index.js';
import type { ControlEntry, ControlValue } from '../uvc/index.js';
import { splitAssignment } from './arguments.js';
import { ownerOf } from './control-owners.js';
import { CliError, ExitCode } from './exit-codes.js';

const TRUE = new Set(['1', 'true', 'on', 'yes']);
const FALSE = new Set(['0', 'false', 'off', 'no']);

function integer(text: string, what: string): number {
  const value = Number(text);
  if (text === '' || !Number.isInteger(value)) throw new CliError(`${what} takes a whole number, got '${text}'`, ExitCode.USAGE);
  return value;
}

/** The value `text` means for this control, by its kind. Menu labels stay strings (the driver maps them). */
export function parseControlValue(control: ControlEntry, text: string): ControlValue | string {
  const what = control.name;
  switch (control.type) {
    case 'boolean': {
      const lower = text.toLowerCase();
      if (TRUE.has(lower)) return true;
      if (FALSE.has(lower)) return false;
      throw new CliError(`${what} takes on/off (true/false, 1/0), got '${text}'`, ExitCode.USAGE);
    }
    case 'menu': {
      if (/^-?\d+$/.test(text)) return Number(text);
      const entry = control.menu?.find((m) => m.name.toLowerCase() === text.toLowerCase());
      if (entry) return entry.name;
      throw new CliError(`${what} takes one of ${(control.menu ?? []).map((m) => `${m.name} (${m.value})`).join(', ') || 'its menu values'}, got '${text}'`, ExitCode.USAGE);
    }
    case 'compound': {
      const fields: Record<string, number> = {};
      if (text.startsWith('{')) {
        try {
          Object.assign(fields, JSON.parse(text) as Record<string, number>);
        } catch {
          throw new CliError(`${what}: '${text}' is not valid JSON`, ExitCode.USAGE);
        }
      } else {
        // 'pan=3600,tilt=0' as --set takes it, 'pan=3600 tilt=0' or 'pan 3600, tilt 0' as info and the preview show it.
        for (const part of text.split(/[,;]\s*|\s+(?=[A-Za-z_]\w*\s*[=\s]\s*-?\d)/).filter((p) => p.trim() !== '')) {
          const match = /^\s*([A-Za-z_]\w*)\s*(?:=|\s)\s*(\S+)\s*$/.exec(part);
          if (!match) throw new CliError(`${what} takes field=value pairs such as ${fieldsExample(control)}, got '${text}'`, ExitCode.USAGE);
          fields[match[1]!] = integer(match[2]!, `${what}.${match[1]}`);
        }
      }
      return fields;
    }
    case 'raw': {
      const hex = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
      if (!/^([0-9a-f]{2})+$/i.test(hex)) throw new CliError(`${what} is a raw control: give its bytes in hex (e.g. 0a00ff)`, ExitCode.USAGE);
      return Uint8Array.from(Buffer.from(hex, 'hex'));
    }
    default:
      return integer(text, what);
  }
}

function fieldsExample(control: ControlEntry): string {
  const names = control.value !== null && typeof control.value === 'object' && !(control.value instanceof Uint8Array) ? Object.keys(control.value) : ['pan', 'tilt'];
  return names.map((n) => `${n}=0`).join(',');
}

export function formatControlValue(value: ControlValue | null | undefined, control?: ControlEntry): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex') || '(empty)';
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k}=${v}`).join(',');
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (control?.type === 'menu') {
    const entry = control.menu?.find((m) => m.value === value);
    if (entry) return `${entry.name} (${value})`;
  }
  return String(value);
}

/** Applies `name=value` settings in order; a bad name, value or range is a usage error naming the choices. */
export async function applyControlSettings(camera: Camera, assignments: readonly string[], note: (message: string) => void): Promise<void> {
  for (const assignment of assignments) {
    const [name, text] = splitAssignment(assignment, '--set');
    const control = camera.controls.find((c) => c.name === name);
    if (!control) {
      throw new CliError(`the camera has no control '${name}'`, ExitCode.USAGE, `Its controls: ${camera.controls.map((c) => c.name).join(', ')} (see \`uvc-capture info\`).`);
    }
    const value = parseControlValue(control, text);
    try {
      await camera.setControl(name, value);
    } catch (error) {
      if (isUvcError(error) && ['ERANGE', 'EINVAL', 'EACCES', 'EPERM', 'EBUSY'].includes(error.code)) {
        const range = error.code !== 'ERANGE' && control.min !== null && control.max !== null ? ` (range ${formatControlValue(control.min)}…${formatControlValue(control.max)})` : '';
        const owner = error.code === 'EBUSY' ? ownerOf(control, camera.controls) : null;
        const hint =
          error.code !== 'EBUSY'
            ? undefined
            : owner !== null
              ? `${owner.name} owns ${name} while it is on: ${owner.howToTake} first (e.g. --set ${owner.name}=${formatControlValue(owner.manual as ControlValue)} before --set ${name}=…).`
              : 'An automatic mode owns this control: turn it off first.';
        // The library names the control; the message here already does.
        const reason = error.message.startsWith(`${name}: `) ? error.message.slice(name.length + 2) : error.message;
        throw new CliError(`cannot set ${name}=${text}: ${reason}${range}`, ExitCode.USAGE, hint, { cause: error });
      }
      throw error;
    }
    note(`Set ${name} = ${formatControlValue(camera.controls.find((c) => c.name === name)?.value ?? null, control)}`);
  }
}
