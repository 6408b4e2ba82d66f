/**
 * Listens on the camera's status interrupt endpoint (uvc_status.c's job): control changes the camera makes by
 * itself (auto exposure, auto white balance, asynchronous controls) and button presses.
 */
import { isUvcError, UvcError } from '../errors.js';
import { TransferStatus, type CompletedTransfer, type UsbStream, type UsbTransport } from '../transport/usb-transport.js';
import { decodeStatusPacket, type InterruptEndpoint, type StatusEvent } from '../uvc/index.js';

/** After this many failed transfers in a row the endpoint is considered broken and left alone. */
const MAX_CONSECUTIVE_ERRORS = 16;

export class StatusMonitor {
  private stream: UsbStream | null = null;
  private consecutiveErrors = 0;

  constructor(
    private readonly transport: UsbTransport,
    private readonly endpoint: InterruptEndpoint,
    private readonly onEvent: (event: StatusEvent) => void,
    private readonly onWarning: (error: UvcError) => void,
  ) {}

  start(): void {
    if (this.stream) return;
    const size = Math.max(this.endpoint.maxPacketSize, this.endpoint.maxTransferSize ?? 0, 16);
    this.stream = this.transport.startStream(
      { endpoint: this.endpoint.address, type: 'interrupt', transfers: 2, transferSize: size },
      this.onTransfer,
    );
  }

  async stop(): Promise<void> {
    const stream = this.stream;
    this.stream = null;
    if (stream) await stream.stop();
  }

  private readonly onTransfer = (transfer: CompletedTransfer): void => {
    try {
      if (transfer.status === TransferStatus.COMPLETED) {
        this.consecutiveErrors = 0;
        if (transfer.actualLength > 0) this.dispatch(transfer.buffer.subarray(0, transfer.actualLength));
      } else if (transfer.status !== TransferStatus.NO_DEVICE && transfer.status !== TransferStatus.CANCELLED) {
        if (++this.consecutiveErrors >= MAX_CONSECUTIVE_ERRORS) {
          this.onWarning(new UvcError('EIO', `status endpoint 0x${this.endpoint.address.toString(16)} keeps failing; no longer listening`));
          void this.stop();
        }
      }
    } finally {
      transfer.release();
    }
  };

  private dispatch(bytes: Uint8Array): void {
    let event: StatusEvent;
    try {
      event = decodeStatusPacket(bytes.slice());
    } catch (error) {
      if (isUvcError(error)) this.onWarning(error);
      return;
    }
    this.onEvent(event);
  }
}
