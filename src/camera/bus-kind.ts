/**
 * Where a camera is: on a local USB bus, behind USB/IP (Linux's vhci_hcd), or the in-process host. It matters
 * because completions from a device behind USB/IP arrive out of step with the host's clock: the host's count of
 * idle bus time says nothing about what the device lost there (issue 12). Linux only: the root hub of bus N is
 * /sys/bus/usb/devices/usbN, and the driver of the device above it is the host controller's.
 */
import { readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { BusKind } from '../stream/index.js';

export interface BusDescription {
  bus: BusKind;
  /** The host controller driver (e.g. 'xhci_hcd', 'vhci_hcd'), when known. */
  hostController?: string;
}

/** Software host controllers with no bus behind them besides vhci_hcd (USB/IP): their timing is not a bus's. */
const SOFTWARE_CONTROLLERS = new Set(['dummy_hcd']);

export function describeBus(transport: 'native' | 'virtual', busNumber: number, sysfs = '/sys'): BusDescription {
  if (transport === 'virtual') return { bus: 'virtual' };
  let hostController: string;
  try {
    const rootHub = realpathSync(join(sysfs, 'bus', 'usb', 'devices', `usb${busNumber}`));
    hostController = basename(readlinkSync(join(dirname(rootHub), 'driver')));
  } catch {
    return { bus: 'unknown' };
  }
  if (hostController === 'vhci_hcd') return { bus: 'usbip', hostController };
  if (SOFTWARE_CONTROLLERS.has(hostController)) return { bus: 'virtual', hostController };
  return { bus: 'local', hostController };
}
