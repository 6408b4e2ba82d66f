/**
 * A device model served over USB/IP by a child process (../serve.js), seen from a check: start it, wait for its
 * events, tell it to unplug/replug, stop it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ServeEvent {
  event: string;
  [field: string]: unknown;
}

export interface ServeOptions {
  /** Compiled module whose default export makes the model. */
  model: string;
  /** Passed (as JSON) to the module's default export. */
  options?: unknown;
  /** The compiled serve.js, when this module is not itself loaded from rig/.out (vitest runs the sources). */
  serveScript?: string;
  busid?: string;
  port?: number;
  /** Plug straight into vhci_hcd through sysfs instead of waiting for `usbip attach`. */
  vhci?: boolean;
  /** Prefix for the child's stderr lines in the check's log. */
  label?: string;
}

export const PATTERN_DEVICE_MODULE = fileURLToPath(new URL('./pattern-device.js', import.meta.url));
/** The VirtualCamera; options are VirtualCameraOptions. */
export const VIRTUAL_CAMERA_MODULE = fileURLToPath(new URL('./virtual-camera-device.js', import.meta.url));
/** The transport conformance suite's TestDevice (test/transport/helpers), with setMissedNext/pushBulkBytes. */
export const TEST_DEVICE_MODULE = fileURLToPath(new URL('./test-device-model.js', import.meta.url));
const SERVE_SCRIPT = fileURLToPath(new URL('../serve.js', import.meta.url));

export class ServedDevice {
  readonly events: ServeEvent[] = [];
  private readonly waiters: { match: (e: ServeEvent) => boolean; resolve: (e: ServeEvent) => void }[] = [];
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: ServeEvent;
      try {
        e = JSON.parse(line) as ServeEvent;
      } catch {
        console.log(`[serve] ${line}`);
        return;
      }
      this.events.push(e);
      if (e.event === 'error' || e.event === 'failed') console.log(`[serve] ${line}`);
      for (const w of [...this.waiters]) {
        if (w.match(e)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    });
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static async start(options: ServeOptions): Promise<ServedDevice> {
    const args = [options.serveScript ?? SERVE_SCRIPT, '--model', options.model, '--busid', options.busid ?? '1-1', '--port', String(options.port ?? 3240)];
    if (options.vhci === true) args.push('--vhci');
    if (options.options !== undefined) args.push('--options', JSON.stringify(options.options));
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const label = options.label ?? 'serve';
    createInterface({ input: child.stderr }).on('line', (line) => console.log(`[${label}:stderr] ${line}`));
    const served = new ServedDevice(child);
    await served.waitEvent((e) => e.event === (options.vhci === true ? 'attach' : 'listening') || e.event === 'error', 240_000);
    const last = served.events.at(-1);
    if (last?.event === 'error') throw new Error(`the USB/IP server failed to start: ${String(last.error)}`);
    return served;
  }

  /** The next event (from now, or already received if `fromIndex` is given) that matches. */
  waitEvent(match: string | ((e: ServeEvent) => boolean), timeoutMs = 120_000, fromIndex?: number): Promise<ServeEvent> {
    const m = typeof match === 'string' ? (e: ServeEvent) => e.event === match : match;
    if (fromIndex !== undefined) {
      const seen = this.events.slice(fromIndex).find(m);
      if (seen !== undefined) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a server event (${typeof match === 'string' ? match : 'predicate'}); got: ${JSON.stringify(this.events.slice(-5))}`));
      }, timeoutMs);
      const waiter = {
        match: m,
        resolve: (e: ServeEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends a command and waits for its 'done' (throws on 'failed'). */
  async command(name: string, timeoutMs = 120_000): Promise<void> {
    const answer = this.waitEvent((e) => (e.event === 'done' || e.event === 'failed') && e.command === name, timeoutMs);
    this.child.stdin.write(`${name}\n`);
    const e = await answer;
    if (e.event === 'failed') throw new Error(`server command '${name}' failed: ${String(e.error)}`);
  }

  /** Calls a method of the served model with JSON-able arguments; resolves with what it returned. */
  async call(method: string, args: readonly unknown[] = [], timeoutMs = 120_000): Promise<unknown> {
    const line = `call ${method} ${JSON.stringify(args)}`;
    const answer = this.waitEvent((e) => (e.event === 'done' || e.event === 'failed') && e.command === line, timeoutMs);
    this.child.stdin.write(`${line}\n`);
    const e = await answer;
    if (e.event === 'failed') throw new Error(`server call '${line}' failed: ${String(e.error)}`);
    return e.result;
  }

  async stats(): Promise<ServeEvent> {
    const answer = this.waitEvent('stats');
    this.child.stdin.write('stats\n');
    return answer;
  }

  /** Asks the server to quit; kills it if it does not within 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.stdin.end('quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The served virtual camera's process (serve.js), whose CPU the CPU checks leave out: it is the same for every consumer. */
export function cameraServerPid(): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.includes('serve.js') && cmdline.includes('virtual-camera-device')) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error('cannot find the camera server process');
}
