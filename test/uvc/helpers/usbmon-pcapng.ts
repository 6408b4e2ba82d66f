/**
 * Control transfers out of a pcapng capture of Linux usbmon (link type 220, LINKTYPE_USB_LINUX_MMAPPED: a 64-byte
 * header per URB event, then the data). Submissions ('S') carry the SETUP packet and OUT data, completions ('C')
 * the IN data; they pair up by URB id.
 */
export interface ControlExchange {
  bmRequestType: number;
  bRequest: number;
  wValue: number;
  wIndex: number;
  wLength: number;
  /** OUT: what the host sent; IN: what the device answered. */
  data: Uint8Array;
  status: number;
}

export function usbmonControlExchanges(file: Uint8Array): ControlExchange[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const pending = new Map<bigint, Omit<ControlExchange, 'status'>>();
  const exchanges: ControlExchange[] = [];
  let linkType = -1;
  for (let offset = 0; offset + 12 <= file.length; ) {
    const type = view.getUint32(offset, true);
    const length = view.getUint32(offset + 4, true);
    if (length < 12 || offset + length > file.length) throw new Error(`bad pcapng block at ${offset}`);
    const body = offset + 8;
    if (type === 1) linkType = view.getUint16(body, true);
    if (type === 6) {
      if (linkType !== 220) throw new Error(`link type ${linkType}, not usbmon (220)`);
      const captured = view.getUint32(body + 12, true);
      const packet = file.subarray(body + 20, body + 20 + captured);
      const p = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
      const id = p.getBigUint64(0, true);
      const event = String.fromCharCode(packet[8]!);
      const transferType = packet[9]!;
      if (transferType === 2) {
        const data = packet.slice(64);
        if (event === 'S' && packet[14] === 0) {
          const setup = packet.subarray(40, 48);
          const direction = setup[0]! & 0x80;
          pending.set(id, {
            bmRequestType: setup[0]!,
            bRequest: setup[1]!,
            wValue: setup[2]! | (setup[3]! << 8),
            wIndex: setup[4]! | (setup[5]! << 8),
            wLength: setup[6]! | (setup[7]! << 8),
            data: direction === 0 ? data : new Uint8Array(0),
          });
        } else if (event === 'C') {
          const submitted = pending.get(id);
          if (submitted !== undefined) {
            pending.delete(id);
            const status = p.getInt32(28, true);
            exchanges.push({ ...submitted, data: (submitted.bmRequestType & 0x80) !== 0 ? data : submitted.data, status });
          }
        }
      }
    }
    offset += length;
  }
  return exchanges;
}
