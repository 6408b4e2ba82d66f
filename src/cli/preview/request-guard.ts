/**
 * Who may see and steer the camera through the preview server (a webcam is a privacy device; the anchors are
 * Jupyter's Host/Origin checks and token, and webpack-dev-server's and Vite's allowedHosts after their DNS
 * rebinding advisories):
 *
 * - Host: only names of the address it listens on (127.0.0.1, localhost, [::1] on loopback; the machine's names and
 *   addresses when it listens on all of them) and those given with --allow-host. A hostile name that resolves to
 *   127.0.0.1 (DNS rebinding) is answered 421, so a page of that name reads nothing.
 * - State-changing requests (anything but GET/HEAD): an Origin, or else a Referer, must be the page's own origin;
 *   a POST body must be application/json (a cross-site <form> cannot send that without a CORS preflight, which
 *   this server never grants: it sends no CORS headers at all). Camera data (the picture, the state) is not served
 *   to requests the browser marks cross-site (Sec-Fetch-Site), so another page cannot embed the stream either.
 * - Listening beyond loopback: a random token, printed in the URL at start, is required, then kept in a
 *   same-site HttpOnly cookie (or sent as `Authorization: token …`), as Jupyter does.
 * Refusals are 403 (or 421 for the Host) with a JSON body that says why.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isIP } from 'node:net';
import os from 'node:os';

export const TOKEN_COOKIE = 'uvc-capture-token';

export interface Refusal {
  status: 403 | 421;
  code: 'EACCES' | 'EPERM';
  message: string;
}

export interface GuardOptions {
  /** The address the server listens on, as given (--host). */
  host: string;
  /** Extra host names to answer to (--allow-host), with or without a port. */
  allowHosts: readonly string[];
}

/** 127.0.0.0/8, ::1, localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(bare);
  return false;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/** "Host: name:port" → ['name', 'port' or null]; IPv6 literals keep their brackets off. */
function splitHost(value: string): [string, string | null] {
  const v = value.trim().toLowerCase();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) return [v, null];
    const port = v.slice(end + 1).startsWith(':') ? v.slice(end + 2) : null;
    return [v.slice(1, end), port];
  }
  const at = v.lastIndexOf(':');
  if (at >= 0 && v.indexOf(':') === at) return [v.slice(0, at), v.slice(at + 1)];
  return [v, null];
}

export class RequestGuard {
  /** The token a request must carry (null on loopback, where the Host check is what keeps other pages out). */
  readonly token: string | null;
  private port = 0;
  /** Host names accepted with our port only. */
  private readonly names = new Set<string>();
  /** --allow-host entries: a name (any port, for a reverse proxy) or name:port. */
  private readonly extra: Array<[string, string | null]>;

  constructor(private readonly options: GuardOptions) {
    this.token = isLoopback(options.host) ? null : randomBytes(24).toString('base64url');
    this.extra = options.allowHosts.map(splitHost);
  }

  /** Called once listening: the port and the names of the address. */
  listening(port: number): void {
    this.port = port;
    const host = splitHost(this.options.host)[0];
    const add = (name: string) => this.names.add(name.replace(/^\[|\]$/g, '').toLowerCase());
    if (isLoopback(host) || isWildcard(host)) ['127.0.0.1', 'localhost', '::1'].forEach(add);
    if (isWildcard(host)) {
      add(os.hostname());
      for (const addresses of Object.values(os.networkInterfaces())) for (const a of addresses ?? []) add(a.address);
    } else {
      add(host);
    }
  }

  /** The URL to print: with the token when one is needed. */
  url(displayHost: string): string {
    const host = isIP(displayHost) === 6 ? `[${displayHost}]` : displayHost;
    return `http://${host}:${this.port}/${this.token ? `?token=${this.token}` : ''}`;
  }

  private hostAllowed(value: string | undefined): boolean {
    if (value === undefined || value === '') return false;
    const [name, port] = splitHost(value);
    for (const [extraName, extraPort] of this.extra) if (name === extraName && (extraPort === null || extraPort === port)) return true;
    if (!this.names.has(name)) return false;
    return port === String(this.port) || (port === null && this.port === 80);
  }

  private tokenOf(request: http.IncomingMessage, url: URL): string | null {
    const query = url.searchParams.get('token');
    if (query) return query;
    const authorization = request.headers.authorization;
    if (authorization?.toLowerCase().startsWith('token ')) return authorization.slice(6).trim();
    for (const part of (request.headers.cookie ?? '').split(';')) {
      const [name, ...rest] = part.trim().split('=');
      if (name === TOKEN_COOKIE) return rest.join('=');
    }
    return null;
  }

  private tokenMatches(given: string | null): boolean {
    if (this.token === null) return true;
    if (given === null) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** The request's own origin, as a browser would send it in Origin. */
  private ownOrigin(request: http.IncomingMessage): string {
    return `http://${(request.headers.host ?? '').toLowerCase()}`;
  }

  /**
   * Null when the request may proceed; else why not. `tokenFromQuery` tells the caller to set the cookie and
   * redirect to the same path without the token (so it does not stay in the address bar and history).
   */
  check(request: http.IncomingMessage, url: URL): Refusal | null {
    if (!this.hostAllowed(request.headers.host)) {
      return {
        status: 421,
        code: 'EPERM',
        message: `this preview answers only to ${[...this.names].map((n) => (isIP(n) === 6 ? `[${n}]` : n)).join(', ')} on port ${this.port}` +
          `${this.extra.length ? ` and ${this.options.allowHosts.join(', ')}` : ''}, not to Host '${request.headers.host ?? ''}' (add it with --allow-host if it is yours)`,
      };
    }
    if (!this.tokenMatches(this.tokenOf(request, url))) {
      return { status: 403, code: 'EACCES', message: 'this preview listens beyond loopback and needs the token printed when it started (the ?token=… URL)' };
    }
    const method = request.method ?? 'GET';
    const safe = method === 'GET' || method === 'HEAD';
    const site = request.headers['sec-fetch-site'];
    const navigation = request.headers['sec-fetch-mode'] === 'navigate' && url.pathname === '/';
    if (typeof site === 'string' && site !== 'same-origin' && site !== 'none' && !(safe && navigation)) {
      return { status: 403, code: 'EACCES', message: `cross-site requests are refused (Sec-Fetch-Site: ${site}): only the preview's own page may use it` };
    }
    if (!safe) {
      const own = this.ownOrigin(request);
      const origin = request.headers.origin;
      if (origin !== undefined) {
        if (origin.toLowerCase() !== own) return { status: 403, code: 'EACCES', message: `Origin ${origin} is not this preview's own (${own}): changes come only from its page` };
      } else if (request.headers.referer !== undefined) {
        let referer: string | null = null;
        try {
          referer = new URL(request.headers.referer).origin.toLowerCase();
        } catch {
          referer = null;
        }
        if (referer !== own) return { status: 403, code: 'EACCES', message: `Referer ${request.headers.referer} is not this preview's own page (${own})` };
      }
      if (method === 'POST') {
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/json') {
          return { status: 403, code: 'EACCES', message: `POST bodies must be application/json, not '${type || 'none'}' (a cross-site form cannot send JSON)` };
        }
      }
    }
    return null;
  }

  /** Whether this request brought the token in its URL (then: set the cookie, redirect without it). */
  tokenInQuery(url: URL): boolean {
    return this.token !== null && url.searchParams.has('token');
  }

  cookie(): string {
    return `${TOKEN_COOKIE}=${this.token ?? ''}; Path=/; HttpOnly; SameSite=Strict`;
  }
}
