/**
 * Serves one device model over USB/IP in its own process, so that the kernel, libusb and the checks are other
 * processes (as on a real network) and nothing a check does can block the server.
 *
 *   node serve.js --model <module.js> [--options JSON] [--busid 1-1] [--port 3240]   usbipd mode: `usbip attach` imports it
 *   node serve.js --model <module.js> [--options JSON] --vhci                         plugged straight into vhci_hcd (sysfs)
 *
 * The module's default export makes the model (sync or async) from the parsed --options (default {}). Commands
 * on stdin, one per line: unplug, replug, attach / detach (vhci mode), stats, quit, and
 * `call <method> [JSON array of arguments]` (a method of the model: `call setPrivacyShutter [true]`).
 * Events on stdout, one JSON object per line; a call's result comes back in its 'done' event.
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startUsbipServer, type UsbipServer } from '../../src/usbip/server.js';
import { attachToVhci, type VhciAttachment } from '../../src/usbip/vhci-attach.js';
import type { UsbipDeviceSession } from '../../src/usbip/device-session.js';
import type { UsbDeviceModel } from '../../src/transport/device-model.js';

interface Pluggable {
  unplug?: () => void;
  replug?: () => void;
  stats?: unknown;
}

function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      busid: { type: 'string', default: '1-1' },
      port: { type: 'string', default: '3240' },
      vhci: { type: 'boolean', default: false },
      options: { type: 'string', default: '{}' },
    },
  });
  if (values.model === undefined) throw new Error('--model <module> is required');
  const factory = ((await import(pathToFileURL(values.model).href)) as { default: (options: unknown) => UsbDeviceModel | Promise<UsbDeviceModel> }).default;
  const model = await factory(JSON.parse(values.options) as unknown);
  const device = model as UsbDeviceModel & Pluggable;
  const busid = values.busid;

  let server: UsbipServer | null = null;
  let attachment: VhciAttachment | null = null;
  let session = (): UsbipDeviceSession | null => null;

  if (values.vhci) {
    const attach = async (): Promise<void> => {
      const a = await attachToVhci({ model });
      attachment = a;
      emit('attach', { port: a.port });
      void a.session.closed.then((end) => emit('detach', { reason: end.reason, error: end.error?.message, stats: a.session.stats }));
    };
    session = () => attachment?.session ?? null;
    await attach();
    commands.attach = attach;
    commands.detach = async () => {
      await attachment?.detach();
    };
  } else {
    server = await startUsbipServer({ devices: [{ busid, model }], port: Number(values.port) });
    const s = server;
    session = () => s.sessionOf(busid);
    s.on('attach', (e) => emit('attach', { busid: e.busid, remote: e.remote }));
    s.on('detach', (e) => emit('detach', { busid: e.busid, reason: e.reason, error: e.error?.message, stats: e.session.stats }));
    s.on('reject', (e) => emit('reject', { busid: e.busid, status: e.status, error: e.error?.message }));
    emit('listening', { port: s.port, busid });
  }

  commands.unplug = () => {
    if (device.unplug === undefined) throw new Error('this model cannot unplug');
    device.unplug();
  };
  commands.replug = () => {
    if (device.replug === undefined) throw new Error('this model cannot replug');
    device.replug();
  };
  commands.stats = () => emit('stats', { device: device.stats ?? null, session: session()?.stats ?? null, inFlight: session()?.inFlight ?? 0 });
  commands.quit = async () => {
    await server?.close();
    await attachment?.detach();
    emit('bye');
    process.exit(0);
  };

  for await (const line of createInterface({ input: process.stdin })) {
    const text = line.trim();
    if (text === '') continue;
    const [name = '', ...rest] = text.split(' ');
    try {
      if (name === 'call') {
        const [method = '', ...json] = rest;
        const args = json.length === 0 ? [] : (JSON.parse(json.join(' ')) as unknown[]);
        const fn = (model as unknown as Record<string, unknown>)[method];
        if (typeof fn !== 'function') throw new Error(`the model has no method '${method}'`);
        const result = (await (fn as (...a: unknown[]) => unknown).apply(model, args)) as unknown;
        emit('done', { command: text, result: result ?? null });
        continue;
      }
      const command = commands[name];
      if (command === undefined) throw new Error(`unknown command '${name}'`);
      await command();
      emit('done', { command: name });
    } catch (err) {
      emit('failed', { command: name === 'call' ? text : name, error: err instanceof Error ? err.message : String(err) });
    }
  }
  // stdin closed: the check is gone, so are we.
  await commands.quit?.();
}

const commands: Record<string, () => void | Promise<void>> = {};

main().catch((err: unknown) => {
  emit('error', { error: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
});
