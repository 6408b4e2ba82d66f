/**
 * Headless Chromium for the preview tests, driven by playwright-core (which downloads no browser of its own). The
 * tests never install one: they use the first browser found, in this order, or are skipped with one line saying how
 * to get one.
 *  1. UVC_TEST_CHROMIUM, a path to a Chromium or Chrome binary;
 *  2. the system's: chromium, chromium-browser, google-chrome, google-chrome-stable on PATH (Debian's package:
 *     `apt-get install --no-install-recommends chromium`, as .ci/run does);
 *  3. the one playwright-core would use, when it was installed (`npx playwright-core install chromium`).
 */
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface BrowserChoice {
  /** The binary, or null when none was found. */
  path: string | null;
  /** Where it came from, or (when none) how to get one: the one line a skipped test prints. */
  how: string;
}

/** The browser the preview tests will drive (see the module comment); never installs anything. */
export function findChromium(): BrowserChoice {
  const forced = process.env.UVC_TEST_CHROMIUM;
  if (forced !== undefined && forced !== '') {
    return executable(forced) ? { path: forced, how: `UVC_TEST_CHROMIUM=${forced}` } : { path: null, how: `UVC_TEST_CHROMIUM=${forced} is not an executable` };
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of SYSTEM_NAMES) {
      const file = path.join(dir, name);
      if (executable(file)) return { path: file, how: file };
    }
  }
  let playwright: string | null = null;
  try {
    playwright = chromium.executablePath();
  } catch {
    playwright = null;
  }
  if (playwright && executable(playwright)) return { path: playwright, how: `playwright-core's ${playwright}` };
  return {
    path: null,
    how:
      'no Chromium found (looked for UVC_TEST_CHROMIUM, chromium/google-chrome on PATH, and playwright-core\'s own): ' +
      'apt-get install --no-install-recommends chromium, or npx playwright-core install chromium',
  };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh browser with its own user-data-dir, removed on close. */
export async function launchChromium(executablePath: string, viewport = { width: 1280, height: 900 }): Promise<Browser> {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'uvc-preview-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: FLAGS,
    viewport,
    deviceScaleFactor: 1,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
