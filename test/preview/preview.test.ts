/**
 * The live preview in a real browser (Debian's headless Chromium, driven by playwright-core), on the virtual camera:
 * the page shows moving frames (the stamp in the picture advances, the moving box moves), the brightness slider
 * changes the picture, and errors from the camera appear on the page. Saves a screenshot under
 * test/preview/artifacts/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';
import { ROOT, startCli, type RunningCli } from '../cli/run-cli.js';
import { ensureChromium, launchChromium, type Browser } from './chromium.js';
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
  await expect.poll(async () => (await state(url)).controls.find((c) => c.name === name)!.value, { timeout: 10_000 }).toBe(value);
  const shown = await shoot(page);
  return shown.stamp! + 10;
}

/** A shot of a frame newer than `after` (the stream keeps coming; wait for the picture to move on). */
async function shootAfter(page: Page, after: number): Promise<Shot> {
  for (let i = 0; i < 50; i++) {
    const shot = await shoot(page);
    if (shot.stamp !== null && shot.stamp > after) return shot;
    await page.waitForTimeout(100);
  }
  throw new Error(`the picture did not move past frame ${after}`);
}

describe('uvc-capture preview in headless Chromium', () => {
  let cli: RunningCli;
  let browser: Browser;
  let page: Page;
  let url: string;

  beforeAll(async () => {
    ensureChromium();
    cli = startCli(['preview', '--virtual', '--port', '0']);
    url = (await cli.waitForStdout(/Preview: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.goto(url);
    await page.waitForFunction("document.getElementById('live').naturalWidth > 0", undefined, { timeout: 20_000 });
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
    await expect.poll(() => page.locator('#mode').textContent(), { timeout: 10_000 }).toMatch(/YUY2 640×480 @ 30 fps/);
    await expect.poll(() => page.locator('#fps').textContent(), { timeout: 10_000 }).toMatch(/^\d+(\.\d)? from the camera/);
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
    await expect.poll(() => page.locator('#error-contrast').textContent(), { timeout: 10_000 }).toMatch(/^ERANGE: .*outside the device's range 0…200/);
    const response = await fetch(new URL('/api/controls/brightness', url), { method: 'POST', body: JSON.stringify({ value: 1000 }) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERANGE');
  });
});
