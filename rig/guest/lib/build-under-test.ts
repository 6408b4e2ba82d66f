/**
 * For the drivers that measure a build (native-cpu-ab's and native-cpu-probe's): they load our driver from a
 * package root (this tree, or one placed in rig/.ab/<name>) instead of importing it, so each runs the build it is
 * given; these open the served camera at native-cpu's mode (iso, YUYV 640×480 at 30 fps), once for all of them.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the build at `root` is loaded at run time, untyped */

const MODE = { fourcc: 'YUYV', width: 640, height: 480, fps: 30 } as const;

/** Our driver from `root`: the camera in native-cpu's mode, streaming into 4 queued buffers (the caller closes it). */
export async function streamOurs(root: string, vendorId: number, productId: number): Promise<any> {
  const { openCamera } = (await import(`${root}/dist/camera/index.js`)) as { openCamera: (t: unknown) => Promise<any> };
  const camera = await openCamera({ vendorId, productId });
  try {
    await camera.setFormat(MODE);
    const queue = camera.queue;
    const n = queue.reqbufs(4);
    for (let i = 0; i < n; i++) queue.qbuf(i);
    await queue.streamon();
    return camera;
  } catch (error) {
    await camera.close();
    throw error;
  }
}

/** What the addon alone streams from: the device, and the committed mode's iso endpoint and packet size. */
export interface CommittedAddon {
  transport: any;
  endpoint: number;
  packetSize: number;
}

/**
 * The addon alone from `root`: the served camera opened natively, its interfaces claimed and native-cpu's mode
 * committed, at the alt setting that carries it (the caller starts the stream and closes the transport).
 */
export async function commitAddon(root: string, vendorId: number, productId: number): Promise<CommittedAddon> {
  const native = (await import(`${root}/dist/transport/native/index.js`)) as any;
  const uvc = (await import(`${root}/dist/uvc/index.js`)) as any;
  const { listCameras } = (await import(`${root}/dist/camera/index.js`)) as any;
  const info = ((await listCameras()) as any[]).find((c) => c.vendorId === vendorId && c.productId === productId);
  const transport = await native.openNativeDevice({ portPath: info.portPath });
  try {
    const fn = uvc.parseUvcDescriptors(transport.configDescriptor());
    const vs = fn.streamingInterfaces[0];
    await transport.claimInterface(fn.videoControl.interfaceNumber);
    await transport.claimInterface(vs.interfaceNumber);
    await transport.setAltSetting(vs.interfaceNumber, 0);
    const selection = uvc.selectFormat(fn, { ...MODE, interfaceNumber: vs.interfaceNumber });
    const params = await uvc.commit(transport, fn, await uvc.probe(transport, fn, selection));
    await transport.setAltSetting(vs.interfaceNumber, params.altSetting);
    return { transport, endpoint: params.endpointAddress, packetSize: params.bytesPerInterval };
  } catch (error) {
    await transport.close();
    throw error;
  }
}
