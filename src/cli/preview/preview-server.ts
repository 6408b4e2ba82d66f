/**
 * The preview's HTTP side (127.0.0.1 unless told otherwise): the page, the live picture as MJPEG over
 * multipart/x-mixed-replace (what browsers show in a plain <img>), the newest frame as one JPEG, the state as JSON,
 * and control changes by POST. Every request passes the RequestGuard first (Host, Origin, content type, token).
 * A viewer whose connection is slow skips frames rather than piling them up.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { isUvcError } from '../../errors.js';
import type { Camera } from '../../camera/index.js';
import type { ControlEntry } from '../../uvc/index.js';
import { activeOwnerOf } from '../control-owners.js';
import { describeControl } from '../control-descriptions.js';
import { parseControlValue } from '../control-values.js';
import { CliError, ExitCode } from '../exit-codes.js';
import type { FrameFeed, JpegFrame } from './frame-feed.js';
import { previewPage } from './preview-page.js';
import { RequestGuard } from './request-guard.js';

const BOUNDARY = 'uvc-capture-frame';
const MAX_BODY = 64 * 1024;

interface Viewer {
  response: http.ServerResponse;
  /** Waiting for 'drain': frames meanwhile are skipped for this viewer. */
  blocked: boolean;
}

export interface PreviewServerOptions {
  host: string;
  port: number;
  label: string;
  /** Host names to answer to besides the address's own (--allow-host). */
  allowHosts?: readonly string[];
}

/**
 * What a control looks like to the page: JSON-safe (bytes as hex), with a label and details for people, the
 * fields of a compound control, and the automatic mode that owns it right now (its slider is then disabled).
 */
function controlJson(c: ControlEntry, controls: readonly ControlEntry[], camera: Camera): Record<string, unknown> {
  const hex = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v);
  const description = describeControl(c, camera.closed ? null : camera.descriptors);
  const owner = activeOwnerOf(c, controls);
  const fields =
    c.type === 'compound' && c.value !== null
      ? Object.keys(c.value).map((name) => ({
          name,
          min: c.min?.[name] ?? null,
          max: c.max?.[name] ?? null,
          step: c.step?.[name] ?? null,
        }))
      : null;
  return {
    name: c.name,
    label: description.label,
    details: description.details,
    unit: description.unit,
    type: c.type,
    size: c.size,
    min: hex(c.min),
    max: hex(c.max),
    step: hex(c.step),
    default: hex(c.default),
    value: hex(c.value),
    menu: c.menu ?? null,
    fields,
    get: c.flags.get,
    set: c.flags.set,
    autoUpdate: c.flags.autoUpdate,
    owner: owner === null ? null : { name: owner.name, label: describeControl(owner.control, null).label, howToTake: owner.howToTake },
  };
}

function send(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function statusFor(error: unknown): number {
  if (!isUvcError(error) && !(error instanceof CliError)) return 500;
  if (error instanceof CliError) return 400;
  switch (error.code) {
    case 'EINVAL':
    case 'ERANGE':
      return 400;
    case 'ENOENT':
      return 404;
    case 'EBUSY':
    case 'EACCES':
    case 'EPERM':
      return 409;
    case 'ENODEV':
    case 'ENXIO':
      return 410;
    default:
      return 502;
  }
}

function errorBody(error: unknown): { error: { code: string; message: string } } {
  const code = isUvcError(error) ? error.code : error instanceof CliError ? error.code : 'EIO';
  return { error: { code, message: error instanceof Error ? error.message : String(error) } };
}

async function readJson(request: http.IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new CliError('request body too large', ExitCode.USAGE);
    chunks.push(chunk as Buffer);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new CliError('the request body must be a JSON object', ExitCode.USAGE);
  }
}

export class PreviewServer {
  private readonly viewers = new Set<Viewer>();
  private readonly server: http.Server;
  readonly guard: RequestGuard;

  constructor(
    private readonly camera: Camera,
    private readonly feed: FrameFeed,
    private readonly options: PreviewServerOptions,
  ) {
    this.guard = new RequestGuard({ host: options.host, allowHosts: options.allowHosts ?? [] });
    this.server = http.createServer((request, response) => {
      this.route(request, response).catch((error: unknown) => {
        if (!response.headersSent) send(response, statusFor(error), errorBody(error));
        else response.destroy();
      });
    });
    feed.on('frame', (frame) => this.broadcast(frame));
  }

  /** Listens; returns the URLs to open (with the token when listening beyond loopback). */
  async listen(): Promise<string[]> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.guard.listening(address.port);
    const wildcard = address.address === '0.0.0.0' || address.address === '::';
    // On all addresses: this machine's name for others, and loopback for a browser here.
    return wildcard ? [this.guard.url(os.hostname()), this.guard.url('127.0.0.1')] : [this.guard.url(address.address)];
  }

  async close(): Promise<void> {
    for (const viewer of this.viewers) viewer.response.end();
    this.viewers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private state(): Record<string, unknown> {
    const feed = this.feed;
    const mode = feed.mode;
    const info = this.camera.info;
    return {
      camera: { label: this.options.label, product: info.product ?? null, vendorId: info.vendorId, productId: info.productId, transport: info.transport },
      mode,
      modes: this.camera.formats.map((f) => ({
        fourcc: f.fourcc,
        interfaceNumber: f.interfaceNumber,
        sizes: f.frames.map((s) => ({ width: s.width, height: s.height, fps: Array.isArray(s.fps) ? s.fps : [s.fps.max, s.fps.min] })),
      })),
      fps: Math.round(feed.stats.recentFps * 100) / 100,
      shownFps: Math.round(feed.shownFps * 100) / 100,
      frames: feed.stats.received,
      shown: feed.shown,
      sequence: feed.latest?.sequence ?? null,
      errors: feed.stats.errors,
      lost: feed.stats.lost,
      disconnected: this.camera.disconnected,
      lastError: feed.lastError,
      controls: this.controlsJson(),
    };
  }

  private controlsJson(): Record<string, unknown>[] {
    const controls = this.camera.controls;
    return controls.map((c) => controlJson(c, controls, this.camera));
  }

  private async route(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const method = request.method ?? 'GET';
    const refusal = this.guard.check(request, url);
    if (refusal !== null) {
      request.resume();
      return send(response, refusal.status, { error: { code: refusal.code, message: refusal.message } });
    }
    if (this.guard.tokenInQuery(url)) {
      // Jupyter's way: the token becomes a cookie; the page itself is reloaded without it in the address bar.
      response.setHeader('set-cookie', this.guard.cookie());
      if (method === 'GET' && url.pathname === '/') {
        response.writeHead(302, { location: '/', 'cache-control': 'no-store', 'content-length': 0 });
        return void response.end();
      }
    }
    if (method === 'GET' && url.pathname === '/') {
      const html = previewPage();
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(html),
        // The page loads only from here and may not be framed by another site (clickjacking of the controls).
        'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      });
      response.end(html);
    } else if (method === 'GET' && url.pathname === '/stream.mjpg') {
      this.addViewer(response);
    } else if (method === 'GET' && url.pathname === '/frame.jpg') {
      const frame = this.feed.latest ?? (await this.nextFrame(5000));
      if (!frame) return send(response, 503, { error: { code: 'EAGAIN', message: 'no frame yet' } });
      response.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store', 'content-length': frame.jpeg.length, 'x-frame-sequence': String(frame.sequence) });
      response.end(frame.jpeg);
    } else if (method === 'GET' && url.pathname === '/api/state') {
      send(response, 200, this.state());
    } else if (method === 'POST' && url.pathname.startsWith('/api/controls/')) {
      const name = decodeURIComponent(url.pathname.slice('/api/controls/'.length));
      const body = await readJson(request);
      const control = this.camera.controls.find((c) => c.name === name);
      if (!control) return send(response, 404, { error: { code: 'ENOENT', message: `no control '${name}'` } });
      const owner = activeOwnerOf(control, this.camera.controls);
      if (owner !== null && control.flags.set) {
        return send(response, 409, {
          error: { code: 'EBUSY', message: `${owner.name} owns ${name} while it is on: ${owner.howToTake} first` },
        });
      }
      const value = typeof body.value === 'string' ? parseControlValue(control, body.value) : (body.value as never);
      await this.camera.setControl(name, value);
      // Reading back: the camera may adjust the value; other controls may change with it (an auto mode).
      await this.camera.getControl(name).catch(() => null);
      const controls = this.controlsJson();
      send(response, 200, { control: controls.find((c) => c.name === name), controls });
    } else if (method === 'POST' && url.pathname === '/api/mode') {
      const body = await readJson(request);
      const mode = await this.feed.changeMode({
        ...(typeof body.fourcc === 'string' ? { fourcc: body.fourcc } : {}),
        ...(typeof body.width === 'number' ? { width: body.width } : {}),
        ...(typeof body.height === 'number' ? { height: body.height } : {}),
        ...(typeof body.fps === 'number' ? { fps: body.fps } : {}),
      });
      send(response, 200, { mode });
    } else {
      request.resume();
      send(response, method === 'GET' || method === 'POST' ? 404 : 405, { error: { code: 'ENOENT', message: `${method} ${url.pathname}: no such thing here` } });
    }
  }

  private nextFrame(timeoutMs: number): Promise<JpegFrame | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.feed.off('frame', onFrame);
        resolve(null);
      }, timeoutMs);
      const onFrame = (frame: JpegFrame): void => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.feed.once('frame', onFrame);
    });
  }

  private addViewer(response: http.ServerResponse): void {
    response.writeHead(200, {
      'content-type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      'cache-control': 'no-store, no-cache, must-revalidate',
      pragma: 'no-cache',
      connection: 'close',
    });
    const viewer: Viewer = { response, blocked: false };
    this.viewers.add(viewer);
    response.on('close', () => this.viewers.delete(viewer));
    response.on('drain', () => {
      viewer.blocked = false;
    });
    if (this.feed.latest) this.push(viewer, this.feed.latest);
  }

  private push(viewer: Viewer, frame: JpegFrame): void {
    if (viewer.blocked) return;
    const head = `--${BOUNDARY}\r\ncontent-type: image/jpeg\r\ncontent-length: ${frame.jpeg.length}\r\nx-frame-sequence: ${frame.sequence}\r\n\r\n`;
    viewer.response.write(head);
    viewer.response.write(frame.jpeg);
    if (!viewer.response.write('\r\n')) viewer.blocked = true;
  }

  private broadcast(frame: JpegFrame): void {
    for (const viewer of this.viewers) this.push(viewer, frame);
  }
}
