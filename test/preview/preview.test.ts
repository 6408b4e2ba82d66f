/**
 * The live preview in a real browser (headless Chromium driven by playwright-core; see chromium.ts for which one),
 * on the virtual camera: the page shows moving frames (the stamp in the picture advances, the moving box moves), the
 * brightness slider changes the picture, errors from the camera appear on the page, a control an automatic mode
 * owns is disabled with its owner named, a switch keeps what the user set while its change is on the way; at
 * 1920×1080 a 1080p picture and every control fit without scrolling.
 * Saves screenshots under test/preview/artifacts/. Without a browser these are skipped, saying so in one line.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';
import { ROOT, startCli, type RunningCli } from '../cli/run-cli.js';
import { findChromium, launchChromium, type Browser } from './chromium.js';
import type { Page } from 'playwright-core';

const ARTIFACTS = path.join(ROOT, 'test', 'preview', 'artifacts');
const WIDTH = 640;
const HEIGHT = 480;

interface Shot {
  rgb: Uint8Array;
  stamp: number | null;
}

/** The live <img> as the browser paints it, as RGB pixels, with the stamp read back from them. */
async function shoot(page: Page): Promise<Shot> {
  const png = await page.locator('#live').screenshot({ animations: 'disabled' });
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([WIDTH, HEIGHT]);
  const rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { rgb, stamp: decodeFrameStamp({ data: rgb, width: WIDTH, height: HEIGHT, format: 'rgb' }) };
}

/** Mean absolute difference of two pictures over rows [top, bottom). */
function difference(a: Uint8Array, b: Uint8Array, top: number, bottom: number): number {
  let sum = 0;
  for (let i = top * WIDTH * 3; i < bottom * WIDTH * 3; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / ((bottom - top) * WIDTH * 3);
}

/** Mean luma below the stamp (its 2 rows of 16-pixel blocks). */
function luma(rgb: Uint8Array): number {
  let sum = 0;
  let n = 0;
  for (let i = 32 * WIDTH * 3; i < rgb.length; i += 3) {
    sum += 0.299 * rgb[i]! + 0.587 * rgb[i + 1]! + 0.114 * rgb[i + 2]!;
    n++;
  }
  return sum / n;
}

interface PreviewState {
  sequence: number | null;
  controls: Array<{ name: string; value: number }>;
}

async function state(url: string): Promise<PreviewState> {
  return (await (await fetch(new URL('/api/state', url))).json()) as PreviewState;
}

/**
 * Waits until the camera reports the control's value, then returns a stamp past every frame that may have been
 * rendered before the change: the virtual camera renders up to 3 frames ahead, and the page shows a frame or two
 * behind the camera; 10 frames (a third of a second) is well past both.
 */
async function settled(page: Page, url: string, name: string, value: number): Promise<number> {
  await expect.poll(async () => (await state(url)).controls.find((c) => c.name === name)!.value, { timeout: 30_000 }).toBe(value);
  const shown = await shoot(page);
  return shown.stamp! + 10;
}

/** A shot of a frame newer than `after` (the stream keeps coming; wait for the picture to move on). */
async function shootAfter(page: Page, after: number): Promise<Shot> {
  for (let i = 0; i < 200; i++) {
    const shot = await shoot(page);
    if (shot.stamp !== null && shot.stamp > after) return shot;
    await page.waitForTimeout(100);
  }
  throw new Error(`the picture did not move past frame ${after}`);
}

/**
 * Waits until the live <img> has decoded a frame. Not page.waitForFunction: Playwright runs its predicate (a string
 * or a function alike) through eval inside the page, which the page's Content-Security-Policy forbids (no
 * 'unsafe-eval'); locator.evaluate goes through the DevTools protocol, which the CSP does not govern.
 */
async function pictureShown(page: Page): Promise<void> {
  // Polled by hand: this runs in beforeAll, where expect.poll is not allowed. Generous: a loaded machine.
  for (let i = 0; i < 600; i++) {
    if ((await page.locator('#live').evaluate((img: { naturalWidth: number }) => img.naturalWidth)) > 0) return;
    await page.waitForTimeout(200);
  }
  throw new Error('the live picture showed no frame in 2 minutes');
}

const BROWSER = findChromium();
if (BROWSER.path === null) console.log(`preview browser tests skipped: ${BROWSER.how}`);

describe.skipIf(BROWSER.path === null)('uvc-capture preview in headless Chromium', () => {
  let cli: RunningCli;
  let browser: Browser;
  let page: Page;
  let url: string;

  beforeAll(async () => {
    cli = startCli(['preview', '--virtual', '--port', '0'], { timeoutMs: 600_000 });
    url = (await cli.waitForStdout(/Preview: (http:\/\/127\.0\.0\.1:\d+\/)/, 60_000))[1]!;
    browser = await launchChromium(BROWSER.path!);
    page = await browser.context.newPage();
    // Not 'load': the live picture is a stream that never finishes loading. Generous waits: a loaded machine.
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 120_000 });
    await pictureShown(page);
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    if (cli && cli.child.exitCode === null) {
      cli.child.kill('SIGINT');
      const result = await cli.done;
      // Ctrl-C is how a preview ends: a clean stop, exit 0.
      expect(result.code).toBe(0);
    }
  });

  it('serves on 127.0.0.1 and shows the camera, the mode and the measured frame rate', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    await expect.poll(() => page.locator('#mode').textContent(), { timeout: 30_000 }).toMatch(/YUY2 640×480 @ 30 fps/);
    await expect.poll(() => page.locator('#fps').textContent(), { timeout: 30_000 }).toMatch(/^\d+(\.\d)? from the camera/);
    expect(await page.locator('#camera').textContent()).toContain('Virtual UVC Camera');
  });

  it('shows moving frames: the stamp advances and the moving box moves', async () => {
    const first = await shoot(page);
    expect(first.stamp).not.toBeNull();
    const second = await shootAfter(page, first.stamp! + 5);
    expect(second.stamp!).toBeGreaterThan(first.stamp!);
    // The box travels across the band from 40 % of the height, 1/6 of the height tall.
    const top = Math.round(HEIGHT * 0.4);
    const band = difference(first.rgb, second.rgb, top, top + Math.round(HEIGHT / 6));
    const above = difference(first.rgb, second.rgb, 40, Math.round(HEIGHT * 0.35));
    expect(band).toBeGreaterThan(2);
    expect(band).toBeGreaterThan(above * 3);

    mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'preview.png');
    await page.screenshot({ path: file, fullPage: true });
    console.log(`preview screenshot with a live frame (stamp ${second.stamp}): ${file}`);
  });

  it('moving the brightness slider changes the picture', async () => {
    const slider = page.locator('input[name="brightness"]');
    expect(await slider.getAttribute('type')).toBe('range');
    const before = await shoot(page);
    // As a person would: focus the slider and press End (its maximum); the page posts each change.
    await slider.focus();
    await page.keyboard.press('End');
    // The virtual camera renders a few frames ahead: look at frames well after the change.
    const after = await shootAfter(page, await settled(page, url, 'brightness', 64));
    expect(luma(after.rgb)).toBeGreaterThan(luma(before.rgb) + 15);
    await page.keyboard.press('Home');
    const darker = await shootAfter(page, await settled(page, url, 'brightness', -64));
    expect(luma(darker.rgb)).toBeLessThan(luma(after.rgb) - 30);
  });

  it('shows the camera driver\'s refusal (ERANGE) beside the control', async () => {
    // A slider that lets the hand go past the camera's range: the server refuses, the page says why.
    await page.locator('input[name="contrast"]').evaluate((input: { max: string }) => (input.max = '1000'));
    await page.locator('input[name="contrast"]').focus();
    await page.keyboard.press('End');
    await expect.poll(() => page.locator('#error-contrast').textContent(), { timeout: 30_000 }).toMatch(/^ERANGE: .*outside the device's range 0…200/);
    const response = await fetch(new URL('/api/controls/brightness', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 1000 }) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERANGE');
  });

  it('labels every control for people, the full name and details in a tooltip', async () => {
    const label = (name: string) => page.locator(`.control[data-control="${name}"] label`);
    expect(await label('white_balance_temperature').textContent()).toBe('White balance temperature');
    expect(await label('white_balance_temperature_auto').textContent()).toBe('White balance temperature, auto');
    expect(await label('white_balance_temperature').getAttribute('title')).toMatch(/^white_balance_temperature: integer in K, processing-unit 2, selector \d+, 2 bytes$/);
    // Extension unit controls: named from the unit's GUID (the virtual camera's own), with their size.
    expect(await label('xu3_1').textContent()).toBe('uvc-capture virtual camera: test pattern');
    expect(await label('xu3_1').getAttribute('title')).toBe('xu3_1: extension unit 3 {6b1d3a9e-4c2f-4e7a-9f5d-7a3c0b8e2d14} (uvc-capture virtual camera), selector 1, 1 byte');
    expect(await page.locator('input[name="xu3_1"]').getAttribute('placeholder')).toBe('1 bytes in hex');
  });

  it('disables a slider an automatic mode owns, names the owner, and enables it when the mode is off', async () => {
    const slider = page.locator('input[name="white_balance_temperature"]');
    const note = page.locator('#note-white_balance_temperature');
    await expect.poll(() => slider.isDisabled(), { timeout: 30_000 }).toBe(true);
    expect(await note.textContent()).toBe('Set by White balance temperature, auto (white_balance_temperature_auto): turn white_balance_temperature_auto off to change it.');
    const auto = page.locator('input[name="white_balance_temperature_auto"]');
    await auto.uncheck();
    await expect.poll(() => slider.isDisabled(), { timeout: 30_000 }).toBe(false);
    expect(await note.textContent()).toBe('');
    await auto.check();
    await expect.poll(() => slider.isDisabled(), { timeout: 30_000 }).toBe(true);
    // The server refuses the same, with the owner named, not a bare EBUSY from the camera.
    const response = await fetch(new URL('/api/controls/white_balance_temperature', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 4000 }) });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe('white_balance_temperature_auto owns white_balance_temperature while it is on: turn white_balance_temperature_auto off first');
  });

  it('keeps a switch as the user set it while its change is on the way (a refresh meanwhile has the old state)', async () => {
    const auto = page.locator('input[name="white_balance_temperature_auto"]');
    const slider = page.locator('input[name="white_balance_temperature"]');
    await expect.poll(() => auto.isChecked(), { timeout: 30_000 }).toBe(true);
    // The change's POST is held until two refreshes (every 500 ms) have been shown, each with the state from
    // before it (a refresh sets #sequence and the controls in one go).
    const route = '**/api/controls/white_balance_temperature_auto';
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let continued: Promise<void> | undefined;
    await page.route(route, (r) => (continued = held.then(() => r.continue())));
    try {
      await auto.uncheck();
      for (let i = 0; i < 2; i++) {
        const before = await page.locator('#sequence').textContent();
        await expect.poll(() => page.locator('#sequence').textContent(), { timeout: 30_000 }).not.toBe(before);
      }
      expect(await auto.isChecked()).toBe(false);
    } finally {
      release();
      await continued;
      await page.unroute(route);
    }
    await expect.poll(() => slider.isDisabled(), { timeout: 30_000 }).toBe(false);
    await auto.check();
    await expect.poll(() => slider.isDisabled(), { timeout: 30_000 }).toBe(true);
  });

  it('pan/tilt: one number box per field, and what is typed is what the camera gets', async () => {
    const pan = page.locator('input[name="pan_tilt_absolute.pan"]');
    const tilt = page.locator('input[name="pan_tilt_absolute.tilt"]');
    expect([await pan.getAttribute('min'), await pan.getAttribute('max'), await pan.getAttribute('step')]).toEqual(['-36000', '36000', '3600']);
    await pan.fill('7200');
    await pan.press('Enter');
    await expect.poll(async () => (await state(url)).controls.find((c) => c.name === 'pan_tilt_absolute')!.value, { timeout: 30_000 }).toEqual({ pan: 7200, tilt: 0 });
    await tilt.fill('-3600');
    await tilt.press('Enter');
    await expect.poll(async () => (await state(url)).controls.find((c) => c.name === 'pan_tilt_absolute')!.value, { timeout: 30_000 }).toEqual({ pan: 7200, tilt: -3600 });
    // The boxes show what the camera reports (re-read every half second).
    await page.locator('input[name="brightness"]').focus();
    await expect.poll(async () => [await pan.inputValue(), await tilt.inputValue()], { timeout: 30_000 }).toEqual(['7200', '-3600']);
  });
});

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
  width: number;
  height: number;
}

interface Layout {
  viewport: { width: number; height: number };
  page: { width: number; height: number };
  aside: { scrollHeight: number; clientHeight: number };
  live: Box & { naturalWidth: number; naturalHeight: number };
  controls: Array<Box & { name: string }>;
}

describe.skipIf(BROWSER.path === null)('the preview at 1920×1080', () => {
  let cli: RunningCli;
  let browser: Browser;

  beforeAll(async () => {
    // A 1080p picture: at its own size it alone would fill the window.
    // frameCache: the picture's content does not matter here, and rendering 1080p JPEGs costs a loaded machine.
    cli = startCli(['preview', '--virtual', '--virtual-option', 'frameCache=8', '--port', '0', '-f', 'MJPEG', '-s', '1920x1080', '-r', '5'], { timeoutMs: 600_000 });
    const url = (await cli.waitForStdout(/Preview: (http:\/\/127\.0\.0\.1:\d+\/)/, 60_000))[1]!;
    browser = await launchChromium(BROWSER.path!, { width: 1920, height: 1080 });
    const page = await browser.context.newPage();
    // Not 'load': the live picture is a stream that never finishes loading. Generous waits: a loaded machine.
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 120_000 });
    await pictureShown(page);
    // More than 10 controls listed: wait for the 11th.
    await page.locator('.control').nth(10).waitFor({ state: 'attached', timeout: 60_000 });
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    if (cli && cli.child.exitCode === null) {
      cli.child.kill('SIGINT');
      expect((await cli.done).code).toBe(0);
    }
  });

  it('shows the picture scaled to the window and every control, with nothing to scroll', async () => {
    const page = browser.context.pages().at(-1)!;
    // Measured in the page (a string: the DOM's types are not this project's).
    const layout = (await page.evaluate(`(() => {
      const box = (e) => { const r = e.getBoundingClientRect(); return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height }; };
      const live = document.getElementById('live');
      const aside = document.querySelector('aside');
      return {
        viewport: { width: window.innerWidth, height: window.innerHeight },
        page: { width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight },
        aside: { scrollHeight: aside.scrollHeight, clientHeight: aside.clientHeight },
        live: { ...box(live), naturalWidth: live.naturalWidth, naturalHeight: live.naturalHeight },
        controls: [...document.querySelectorAll('.control')].map((e) => ({ name: e.dataset.control, ...box(e) })),
      };
    })()`)) as Layout;
    expect(layout.viewport).toEqual({ width: 1920, height: 1080 });
    // Nothing to scroll: neither the page nor the controls' column.
    expect(layout.page.width).toBeLessThanOrEqual(1920);
    expect(layout.page.height).toBeLessThanOrEqual(1080);
    expect(layout.aside.scrollHeight).toBeLessThanOrEqual(layout.aside.clientHeight);
    // The whole picture is in the window, scaled down from 1920×1080, its aspect ratio kept.
    expect([layout.live.naturalWidth, layout.live.naturalHeight]).toEqual([1920, 1080]);
    expect(layout.live.left).toBeGreaterThanOrEqual(0);
    expect(layout.live.top).toBeGreaterThanOrEqual(0);
    expect(layout.live.right).toBeLessThanOrEqual(1920);
    expect(layout.live.bottom).toBeLessThanOrEqual(1080);
    expect(layout.live.width).toBeLessThan(1920);
    expect(layout.live.width).toBeGreaterThan(1920 * 0.6);
    expect(layout.live.width / layout.live.height).toBeCloseTo(1920 / 1080, 1);
    // Every control is in the window, beside the picture.
    expect(layout.controls.length).toBeGreaterThan(15);
    for (const control of layout.controls) {
      expect(control.bottom, control.name).toBeLessThanOrEqual(1080);
      expect(control.right, control.name).toBeLessThanOrEqual(1920);
      expect(control.left, control.name).toBeGreaterThanOrEqual(layout.live.right);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'preview-1920x1080.png');
    await page.screenshot({ path: file });
    console.log(`preview at 1920×1080: ${file}`);
  });
});
