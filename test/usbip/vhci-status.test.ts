import { describe, expect, it } from 'vitest';
import { parseVhciStatus } from '../../src/usbip/vhci-attach.js';

// /sys/devices/platform/vhci_hcd.0/status of Linux 6.1 (vhci_sysfs.c status_show_vhci) with port 0 in use.
const status = `hub port sta spd dev      sockfd local_busid
hs  0000 006 003 00010002 000003 1-1
hs  0001 004 000 00000000 000000 0-0
ss  0008 004 000 00000000 000000 0-0
`;

describe('parseVhciStatus', () => {
  it('reads hub, port and state of every port', () => {
    expect(parseVhciStatus(status)).toEqual([
      { hub: 'hs', port: 0, state: 6 },
      { hub: 'hs', port: 1, state: 4 },
      { hub: 'ss', port: 8, state: 4 },
    ]);
  });

  it('ignores the header and blank lines', () => {
    expect(parseVhciStatus('hub port sta spd dev      sockfd local_busid\n\n')).toEqual([]);
  });
});
