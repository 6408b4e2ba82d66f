/**
 * Parsers for flag values, shared by the commands. Each throws commander's InvalidArgumentError with a message
 * that says what is expected, so a bad value is reported as `error: option '--frames <n>' argument 'x' is invalid.
 * <why>` with the usage exit code.
 */
import { InvalidArgumentError } from 'commander';

export function positiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError('expected a whole number ≥ 1.');
  return value;
}

export function nonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new InvalidArgumentError('expected a whole number ≥ 0.');
  return value;
}

export function positiveNumber(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('expected a number > 0.');
  return value;
}

export function fraction(text: string): number {
  const value = Number(text.endsWith('%') ? text.slice(0, -1) : text) / (text.endsWith('%') ? 100 : 1);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new InvalidArgumentError('expected a fraction between 0 and 1 (0.1) or a percentage (10%).');
  }
  return value;
}

export function portNumber(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value > 65535) throw new InvalidArgumentError('expected a TCP port, 0–65535 (0 picks a free one).');
  return value;
}

export interface FrameSizeArgument {
  width: number;
  height: number;
}

/** '640x480', '1280×720', '1920X1080'. */
export function frameSize(text: string): FrameSizeArgument {
  const match = /^\s*(\d{1,5})\s*[x×X*]\s*(\d{1,5})\s*$/.exec(text);
  if (!match || Number(match[1]) === 0 || Number(match[2]) === 0) throw new InvalidArgumentError('expected WIDTHxHEIGHT, e.g. 640x480.');
  return { width: Number(match[1]), height: Number(match[2]) };
}

/**
 * A FourCC or a common name for one: YUYV, YUY2, MJPG, MJPEG, NV12, H264, … (case-insensitive). The driver maps
 * the aliases (YUYV → YUY2, MJPEG → MJPG); anything 2–5 letters or digits is passed on for the camera to judge.
 */
export function fourcc(text: string): string {
  const name = text.trim().toUpperCase();
  if (!/^[0-9A-Z]{2,5}$/.test(name)) throw new InvalidArgumentError('expected a format such as YUYV, MJPEG, NV12 or H264.');
  return name;
}

/** Commander collector for repeatable flags. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** 'name=value' → ['name', 'value']; the value may contain '='. */
export function splitAssignment(text: string, flag: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`${flag} takes name=value, got '${text}'.`);
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

/** A value given on the command line for a JavaScript option: JSON when it parses as JSON, else the string. */
export function looseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
