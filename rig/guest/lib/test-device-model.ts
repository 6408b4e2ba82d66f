/**
 * The transport conformance suite's TestDevice (test/transport/helpers) for serve.ts, with what a test in
 * another process needs to act on it through `call`: setMissedNext(n) and pushBulkBytes([...]).
 */
import { TestDevice } from '../../../test/transport/helpers/test-device.js';

export class ServedTestDevice extends TestDevice {
  setMissedNext(intervals: number): void {
    this.missedNext = intervals;
  }

  pushBulkBytes(bytes: number[]): void {
    this.pushBulk(Uint8Array.from(bytes));
  }
}

export default function makeTestDevice(): TestDevice {
  return new ServedTestDevice();
}
