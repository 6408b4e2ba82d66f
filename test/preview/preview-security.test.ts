/**
 * Who may see and steer the camera through `uvc-capture preview` (issue 19), tried as a hostile page would through
 * the user's browser, with raw HTTP requests (no browser needed): a rebinding Host is answered 421, a foreign Origin
 * or Referer cannot change anything, a text/plain or form POST is refused, no CORS header is ever sent, and
 * listening beyond loopback needs the token printed at start (then a cookie). Every refusal leaves the camera as
 * it was: the control and the mode are read back.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, type RunningCli } from '../cli/run-cli.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  bytes: Buffer;
}

/** One request to 127.0.0.1:port with exactly these headers (Host included: a rebinding page sends its own name). */
function request(port: number, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: { host: `127.0.0.1:${port}`, ...options.headers } }, (res) => {
      // The MJPEG stream never ends: one chunk is enough to know it was served.
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (options.path === '/stream.mjpg') res.destroy();
      });
      res.on('close', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = (body: object) => JSON.stringify(body);

async function state(port: number, headers: Record<string, string> = {}): Promise<{ mode: { fourcc: string; width: number }; controls: Array<{ name: string; value: unknown }> }> {
  const reply = await request(port, { path: '/api/state', headers });
  expect(reply.status, reply.body).toBe(200);
  return JSON.parse(reply.body) as { mode: { fourcc: string; width: number }; controls: Array<{ name: string; value: unknown }> };
}

async function brightness(port: number, headers: Record<string, string> = {}): Promise<unknown> {
  return (await state(port, headers)).controls.find((c) => c.name === 'brightness')!.value;
}

function expectNoCors(reply: Reply): void {
  expect(Object.keys(reply.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
}

async function start(args: string[]): Promise<{ cli: RunningCli; port: number; urls: string[] }> {
  // Real-time pace (a fast one would render frames as fast as it can, for nothing); killed only if it hangs.
  const cli = startCli(['preview', '--virtual', '--port', '0', ...args], { timeoutMs: 600_000 });
  await cli.waitForStdout(/Preview: http:\/\/\S+:(\d+)\//, 60_000);
  await cli.waitForStderr(/Ctrl-C stops/, 60_000);
  const urls = [...cli.stdout.matchAll(/^Preview: (\S+)$/gm)].map((m) => m[1]!);
  return { cli, port: Number(/:(\d+)\//.exec(urls[0]!)![1]), urls };
}

async function stop(cli: RunningCli | undefined): Promise<void> {
  if (cli && cli.child.exitCode === null) {
    cli.child.kill('SIGINT');
    expect((await cli.done).code).toBe(0);
  }
}

describe('preview on loopback: Host, Origin, content type, CORS', () => {
  let cli: RunningCli;
  let port: number;
  let urls: string[];

  beforeAll(async () => {
    ({ cli, port, urls } = await start(['--allow-host', 'camera.home.arpa']));
  }, 60_000);
  afterAll(() => stop(cli));

  it('prints a plain URL (no token on loopback) and answers to its own names', async () => {
    expect(urls).toEqual([`http://127.0.0.1:${port}/`]);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`, 'camera.home.arpa', `camera.home.arpa:${port}`]) {
      expect((await request(port, { path: '/api/state', headers: { host } })).status, host).toBe(200);
    }
  });

  it('DNS rebinding: another Host is answered 421 on every path, with no picture and no state', async () => {
    for (const path of ['/', '/api/state', '/frame.jpg', '/stream.mjpg']) {
      for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${port + 1}`, `localhost.evil.example:${port}`]) {
        const reply = await request(port, { path, headers: { host } });
        expect(reply.status, `${host} ${path}`).toBe(421);
        expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
        expect((JSON.parse(reply.body) as { error: { code: string; message: string } }).error).toEqual({
          code: 'EPERM',
          message: expect.stringMatching(/^this preview answers only to 127\.0\.0\.1, localhost, \[::1\] on port \d+ and camera\.home\.arpa, not to Host '.*' \(add it with --allow-host if it is yours\)$/),
        });
        expect(reply.bytes.includes(Buffer.from([0xff, 0xd8]))).toBe(false); // no JPEG
      }
    }
  });

  it('a foreign Origin (or Referer) changes nothing: 403, brightness and mode as they were', async () => {
    const before = await state(port);
    const attacks: Array<Record<string, string>> = [
      { origin: 'http://evil.example' },
      { origin: `http://evil.example:${port}` },
      { origin: `http://localhost:${port + 1}` },
      { origin: 'null' },
      { referer: 'http://evil.example/page.html' },
    ];
    for (const headers of attacks) {
      const control = await request(port, { method: 'POST', path: '/api/controls/brightness', headers: { 'content-type': 'application/json', ...headers }, body: json({ value: 7 }) });
      expect(control.status, JSON.stringify(headers)).toBe(403);
      expectNoCors(control);
      const mode = await request(port, { method: 'POST', path: '/api/mode', headers: { 'content-type': 'application/json', ...headers }, body: json({ fourcc: 'MJPG', width: 1280, height: 720 }) });
      expect(mode.status).toBe(403);
      expect((JSON.parse(mode.body) as { error: { code: string; message: string } }).error.message).toMatch(/^(Origin|Referer) .* is not this preview's own/);
    }
    const after = await state(port);
    expect(after.controls.find((c) => c.name === 'brightness')!.value).toBe(before.controls.find((c) => c.name === 'brightness')!.value);
    expect(after.mode).toEqual(before.mode);
  });

  it('a text/plain POST (what a cross-site form can send without a preflight) is refused, and so is any non-JSON body', async () => {
    const before = await brightness(port);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '']) {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const reply = await request(port, { method: 'POST', path: '/api/controls/brightness', headers, body: '{"value":7,"a":"="}' });
      expect(reply.status, type).toBe(403);
      expect((JSON.parse(reply.body) as { error: { message: string } }).error.message).toMatch(/^POST bodies must be application\/json/);
    }
    expect(await brightness(port)).toBe(before);
  });

  it('the page\'s own origin, with JSON, may change a control (and so may a program sending no Origin)', async () => {
    const own = await request(port, { method: 'POST', path: '/api/controls/brightness', headers: { 'content-type': 'application/json', origin: `http://127.0.0.1:${port}` }, body: json({ value: 7 }) });
    expect(own.status, own.body).toBe(200);
    expect(await brightness(port)).toBe(7);
    const script = await request(port, { method: 'POST', path: '/api/controls/brightness', headers: { 'content-type': 'application/json; charset=utf-8' }, body: json({ value: 0 }) });
    expect(script.status).toBe(200);
    expect(await brightness(port)).toBe(0);
  });

  it('sends no CORS headers, grants no preflight, and serves no camera data to a request the browser marks cross-site', async () => {
    for (const path of ['/', '/api/state', '/frame.jpg']) expectNoCors(await request(port, { path, headers: { origin: 'http://evil.example' } }));
    const preflight = await request(port, {
      method: 'OPTIONS',
      path: '/api/controls/brightness',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(403);
    expectNoCors(preflight);
    for (const path of ['/frame.jpg', '/stream.mjpg', '/api/state']) {
      const embedded = await request(port, { path, headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' } });
      expect(embedded.status, path).toBe(403);
    }
    const own = await request(port, { path: '/frame.jpg', headers: { 'sec-fetch-site': 'same-origin' } });
    expect(own.status).toBe(200);
    expect(own.headers['content-type']).toBe('image/jpeg');
    // The page may not be framed by another site.
    const page = await request(port, { path: '/' });
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });
});

describe('preview beyond loopback: the token', () => {
  let cli: RunningCli;
  let port: number;
  let urls: string[];
  let token: string;

  beforeAll(async () => {
    // On every address; the test only ever connects over 127.0.0.1.
    ({ cli, port, urls } = await start(['--host', '0.0.0.0']));
    token = /\?token=([\w-]+)$/.exec(urls[0]!)![1]!;
  }, 60_000);
  afterAll(() => stop(cli));

  it('prints URLs carrying a random token, and warns that the camera is reachable', () => {
    expect(token).toMatch(/^[\w-]{32}$/);
    expect(urls).toHaveLength(2);
    expect(urls[1]).toBe(`http://127.0.0.1:${port}/?token=${token}`);
    for (const url of urls) expect(url.endsWith(`?token=${token}`)).toBe(true);
    expect(cli.stderr).toContain('warning: listening on 0.0.0.0: anyone who can reach this machine and has the token in the URL sees the camera; keep the URL private.');
  });

  it('without the token (or with a wrong one): 403 everywhere, even from loopback', async () => {
    for (const path of ['/', '/api/state', '/frame.jpg', '/stream.mjpg', `/api/state?token=${token.slice(1)}x`]) {
      const reply = await request(port, { path });
      expect(reply.status, path).toBe(403);
      expect((JSON.parse(reply.body) as { error: { code: string; message: string } }).error).toEqual({
        code: 'EACCES',
        message: 'this preview listens beyond loopback and needs the token printed when it started (the ?token=… URL)',
      });
    }
    const post = await request(port, { method: 'POST', path: '/api/controls/brightness', headers: { 'content-type': 'application/json' }, body: json({ value: 9 }) });
    expect(post.status).toBe(403);
  });

  it('with it: the page sets an HttpOnly same-site cookie and drops the token from the address; the cookie or an Authorization header then serve', async () => {
    const page = await request(port, { path: `/?token=${token}` });
    expect(page.status).toBe(302);
    expect(page.headers.location).toBe('/');
    const cookie = page.headers['set-cookie']![0]!;
    expect(cookie).toBe(`uvc-capture-token=${token}; Path=/; HttpOnly; SameSite=Strict`);
    const jar = { cookie: cookie.split(';')[0]! };
    expect((await request(port, { path: '/', headers: jar })).status).toBe(200);
    expect((await request(port, { path: '/frame.jpg', headers: jar })).headers['content-type']).toBe('image/jpeg');
    expect(await brightness(port, { authorization: `token ${token}` })).toBe(0);
    expect((await request(port, { path: `/api/state?token=${token}` })).status).toBe(200);
    // The token does not open the door to a rebinding Host or a foreign Origin.
    expect((await request(port, { path: '/api/state', headers: { ...jar, host: `evil.example:${port}` } })).status).toBe(421);
    const foreign = await request(port, { method: 'POST', path: '/api/controls/brightness', headers: { ...jar, 'content-type': 'application/json', origin: 'http://evil.example' }, body: json({ value: 9 }) });
    expect(foreign.status).toBe(403);
    expect(await brightness(port, jar)).toBe(0);
  });
});
