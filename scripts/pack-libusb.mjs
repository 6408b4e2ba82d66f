#!/usr/bin/env node
// `npm pack` (prepack): copies the libusb sources the addon compiles into deps/libusb/, so the packed package can
// build its addon where no prebuild fits (arm64, musl: `npm rebuild uvc-capture`) without the `usb` package, which
// is a development dependency only (the kernel rig's peer driver, and these same sources in a clone).
// binding.gyp compiles deps/libusb when it is there, else node_modules/usb/libusb. `--clean` (postpack) removes
// the copy, so a clone keeps building from node_modules. Only the Linux backend is copied, with libusb's licence.
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'deps', 'libusb');

if (process.argv.includes('--clean')) {
  rmSync(path.join(root, 'deps'), { recursive: true, force: true });
  process.exit(0);
}

const source = path.join(path.dirname(createRequire(import.meta.url).resolve('usb/package.json')), 'libusb');
const FILES = [
  'COPYING',
  'AUTHORS',
  'libusb/core.c',
  'libusb/descriptor.c',
  'libusb/hotplug.c',
  'libusb/io.c',
  'libusb/strerror.c',
  'libusb/sync.c',
  'libusb/libusb.h',
  'libusb/libusbi.h',
  'libusb/version.h',
  'libusb/version_nano.h',
  'libusb/os/events_posix.c',
  'libusb/os/events_posix.h',
  'libusb/os/threads_posix.c',
  'libusb/os/threads_posix.h',
  'libusb/os/linux_usbfs.c',
  'libusb/os/linux_usbfs.h',
  'libusb/os/linux_netlink.c',
];
rmSync(target, { recursive: true, force: true });
for (const file of FILES) {
  const from = path.join(source, file);
  if (!existsSync(from)) {
    console.error(`pack-libusb: ${from} is missing (is the usb development dependency installed?)`);
    process.exit(1);
  }
  mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
  cpSync(from, path.join(target, file));
}
console.log(`pack-libusb: ${FILES.length} libusb files copied into deps/libusb (LGPL-2.1, see deps/libusb/COPYING)`);
