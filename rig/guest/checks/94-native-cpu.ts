/**
 * CPU per frame, measured (issue 15): on the same VirtualCamera and mode (iso, YUYV 640×480 at 30 fps, 'fast'
 * pace), in one run,
 *   - a bare C libusb reader (rig/tools/uvc-count.c: counts bytes and frame ends, nothing else): the floor;
 *   - our driver: openCamera() → native addon → frames assembled into the queue's buffers (one copy per byte);
 *   - Linux's uvcvideo with v4l2-ctl --stream-mmap (its copy runs in the kernel, so it shows in the guest's CPU
 *     rather than in the process's).
 * For each: the process's CPU per frame and the whole guest's (every task's own CPU accounting from /proc, minus
 * the camera server process, which serves the same frames to all three), as ratios to the bare reader. Under TCG absolute times mean little;
 * ratios in one run do. The table is printed in the rig's output and written to <runDir>/cpu-per-frame.txt.
 *
 * Windows: the reader and our driver count from their first frame end to the FRAMES-th after it (steady
 * streaming only); our driver first streams WARMUP frames uncounted (the addon alone ADDON_WARMUP), as V8 compiles
 * the hot path during the first frames, a one-time cost the C reader has no counterpart of (its CPU is logged
 * apart as `warm-up`). Under TCG that takes long: after 60 frames TurboFan still compiled 17 functions in the next
 * 300 (--trace-opt; 2.4 s of its worker threads' CPU, and a first major GC), after 600 frames 2 small ones (workers
 * 0.10 s) (native-cpu-probe); on 2026-12-08, in some runs, still the clock's fit and 3-4 smaller functions (workers
 * 0.26-0.44 s of a window's 2.2-2.9 s; bench/RESULTS.md). v4l2-ctl cannot be timed inside, so it runs twice (SHORT and SHORT + FRAMES frames) and the
 * difference is taken: setup and teardown cancel out.
 *
 * The check fails if a run fails; the goal (ours ≤ 1.5 × the reader, process CPU) is reported, not asserted:
 * a CPU ratio on a shared, emulated machine is a measurement, not a test.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Session } from 'node:inspector';
import { openCamera } from '../../../src/camera/index.js';
import { isUvcError } from '../../../src/errors.js';
import { openNativeDevice } from '../../../src/transport/native/index.js';
import { commit, parseUvcDescriptors, probe, selectFormat } from '../../../src/uvc/index.js';
import { CAMERA_PID, CAMERA_VID, findServedCamera } from '../lib/camera-helpers.js';
import { assert, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { cameraServerPid, ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { threadCpu, TICK_S, type ThreadCpu } from '../lib/thread-ticks.js';
import { usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';
import { waitForCaptureNode, waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 900_000;

const WIDTH = 640;
const HEIGHT = 480;
const FRAMES = 300;
const SHORT = 30;
const PROFILE_FRAMES = 150;
/** Frames counted under strace (see OursMode). */
const SYSCALL_FRAMES = 100;
const STRACE = '/usr/bin/strace';
/** Frames our driver streams before its window opens (V8 warms up: see the header). */
const WARMUP = 600;
/** The addon alone runs little JavaScript: its warm-up is short. */
const ADDON_WARMUP = 60;

interface Sample {
  /** CPU seconds of the measured process (all its threads, user + system). */
  processS: number;
  /** Guest CPU seconds busy (all CPUs, not idle), minus the camera server's. */
  guestS: number;
  frames: number;
  seconds: number;
}

function processTicks(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  } catch {
    return 0; // gone meanwhile
  }
}

/**
 * CPU of every other task of the guest (processes and kernel threads) between two calls, in seconds, from each
 * task's own accounting in /proc/<pid>/stat (under TCG /proc/stat's tick sampling disagrees with it). Leaves
 * out this process and the server; a task that started meanwhile counts whole, one that ended is missed (the
 * caller adds the measured process itself).
 */
function othersMeter(exclude: number[]): () => number {
  const skip = new Set([process.pid, ...exclude]);
  const sweep = (): Map<number, number> => {
    const ticks = new Map<number, number>();
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (Number.isInteger(pid) && pid > 0 && !skip.has(pid)) ticks.set(pid, processTicks(pid));
    }
    return ticks;
  };
  const before = sweep();
  return () => {
    let total = 0;
    for (const [pid, ticks] of sweep()) total += Math.max(0, ticks - (before.get(pid) ?? 0));
    return total * TICK_S;
  };
}

/** What one read of CLOCK_MONOTONIC costs this process, in ns (the median of 5 runs of 2000 reads). */
function clockReadNs(): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 2000; i++) process.hrtime.bigint();
    runs.push(Number(process.hrtime.bigint() - t0) / 2001);
  }
  return runs.sort((a, b) => a - b)[2]!;
}

/** "name total (user u + sys s; n page faults)" per thread that used CPU between the two readings. */
function threadSplit(before: Map<string, ThreadCpu>, after: Map<string, ThreadCpu>): string {
  const rows: string[] = [];
  for (const [name, t1] of after) {
    const t0 = before.get(name) ?? { user: 0, system: 0, faults: 0 };
    const user = (t1.user - t0.user) * TICK_S;
    const system = (t1.system - t0.system) * TICK_S;
    const faults = t1.faults - t0.faults;
    if (user + system > 0.005) rows.push(`${name} ${(user + system).toFixed(2)} (user ${user.toFixed(2)} + sys ${system.toFixed(2)}; ${faults} page faults)`);
  }
  return rows.join(', ');
}

async function bareReader(ctx: CheckContext, server: number): Promise<Sample> {
  const result = await run(`${ctx.toolsDir}/uvc-count`, ['--frames', String(FRAMES), '--transfers', '25', '--packets', '32', '--exclude-pid', String(server)], { timeoutMs: 600_000 });
  ctx.log(`uvc-count: ${result.stdout.trim().split('\n').join(' | ')}`);
  assert(result.stdout.includes('RESULT ok'), `uvc-count failed: ${result.stdout}${result.stderr}`);
  const v: Record<string, number> = {};
  for (const m of result.stdout.matchAll(/(\w+)=(-?[\d.]+)/g)) v[m[1]!] = Number(m[2]);
  // The reader sweeps /proc itself over its own window (others_ticks: every task but itself and the server).
  return { processS: v.cpu_s!, guestS: v.cpu_s! + v.others_ticks! * TICK_S, frames: v.frames!, seconds: v.seconds! };
}

/**
 * How `ours` runs: 'count' (the table's figures), 'profile' (V8's sampling profiler over PROFILE_FRAMES frames,
 * written to `path`), 'syscalls' (strace -ff attached for SYSCALL_FRAMES frames: system calls per frame of each
 * thread, written to `path`; ptrace makes every call far dearer, so its CPU figures mean nothing).
 */
type OursMode = { kind: 'count' } | { kind: 'profile'; path: string } | { kind: 'syscalls'; path: string };

async function ours(ctx: CheckContext, server: number, mode: OursMode = { kind: 'count' }): Promise<Sample> {
  const info = await findServedCamera();
  const camera = await openCamera(info);
  const profile = mode.kind === 'profile' ? mode.path : undefined;
  const frameCount = mode.kind === 'count' ? FRAMES : mode.kind === 'profile' ? PROFILE_FRAMES : SYSCALL_FRAMES;
  let tracer: SyscallTracer | undefined;
  let session: Session | undefined;
  try {
    await camera.setFormat({ fourcc: 'YUYV', width: WIDTH, height: HEIGHT, fps: 30 });
    const queue = camera.queue;
    const n = queue.reqbufs(4);
    for (let i = 0; i < n; i++) queue.qbuf(i);
    await queue.streamon();
    let frames = -1 - WARMUP;
    let others = othersMeter([server]);
    let threads0 = threadCpu();
    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    let flagged = 0;
    let stats = '';
    let warmup = '';
    try {
      while (frames < frameCount) {
        const buffer = await queue.dqbuf({ timeoutMs: 60_000 });
        if (frames === -1) {
          const w = process.cpuUsage(cpu0);
          warmup = `warm-up ${WARMUP} frames: ${((w.user + w.system) / 1e6).toFixed(2)} s CPU (${threadSplit(threads0, threadCpu())}); `;
          if (profile !== undefined) {
            session = new Session();
            session.connect();
            await post(session, 'Profiler.enable');
            await post(session, 'Profiler.start');
          }
          if (mode.kind === 'syscalls') tracer = startSyscallTracer(`${ctx.runDir}/native-cpu.strace`);
          others = othersMeter([server]);
          threads0 = threadCpu();
          cpu0 = process.cpuUsage();
          t0 = performance.now();
        } else if (buffer.flags.error) {
          flagged++;
        }
        frames++;
        if (tracer !== undefined && tracer.attachedAtFrame < 0 && tracer.attached) tracer.attachedAtFrame = frames;
        queue.qbuf(buffer.index);
      }
    } finally {
      stats = JSON.stringify({ assembly: camera.stats.assembly, transfers: camera.stats.transfers });
      await queue.streamoff().catch((error: unknown) => {
        if (!isUvcError(error, 'ENXIO')) throw error;
      });
    }
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    if (tracer !== undefined && mode.kind === 'syscalls') {
      const summary = await tracer.finish(frames);
      writeFileSync(mode.path, `${summary.join('\n')}\n`);
      for (const line of summary) ctx.log(line);
    }
    const threads1 = threadCpu();
    const othersS = others();
    if (session !== undefined) {
      const { profile: result } = (await post(session, 'Profiler.stop')) as { profile: unknown };
      writeFileSync(profile!, JSON.stringify(result));
      session.disconnect();
    }
    ctx.log(`ours${mode.kind === 'count' ? '' : ` (${mode.kind})`}: ${warmup}${frames} frames, ${flagged} flagged; CPU by thread (s): ${threadSplit(threads0, threads1)}`);
    ctx.log(`ours: stats ${stats}`);
    queue.reqbufs(0);
    const processS = (cpu.user + cpu.system) / 1e6;
    return { processS, guestS: processS + othersS, frames, seconds };
  } finally {
    await camera.close();
  }
}

interface SyscallTracer {
  /** strace said it attached (to the first thread). */
  readonly attached: boolean;
  /** The frame count when it had: the window starts there. */
  attachedAtFrame: number;
  /** Detaches, then summarises: per thread, the system calls per frame over the window (frames: the count now). */
  finish(frames: number): Promise<string[]>;
}

/**
 * strace -ff on this process: one file per thread (`prefix.<tid>`), each call a line. Thread names are read now
 * (the driver's threads exist already: the stream is running). Counts calls by name (ioctl by request, the clock
 * calls by clock), leaving out the "resumed" halves of calls that another thread's line interrupted.
 */
function startSyscallTracer(prefix: string): SyscallTracer {
  const names = new Map<string, string>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      names.set(tid, readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim());
    } catch {
      // ended meanwhile
    }
  }
  const child = spawn(STRACE, ['-ff', '-o', prefix, '-p', String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const state = { attached: false, attachedAtFrame: -1 };
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (d.includes('attached')) state.attached = true;
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    get attached() {
      return state.attached;
    },
    get attachedAtFrame() {
      return state.attachedAtFrame;
    },
    set attachedAtFrame(n: number) {
      state.attachedAtFrame = n;
    },
    async finish(frames: number): Promise<string[]> {
      child.kill('SIGINT');
      await closed;
      const window = frames - state.attachedAtFrame;
      if (state.attachedAtFrame < 0 || window <= 0) return [`syscalls: strace did not attach in time (${stderr.trim()})`];
      const dir = prefix.slice(0, prefix.lastIndexOf('/'));
      const base = prefix.slice(prefix.lastIndexOf('/') + 1);
      const out = [`syscalls per frame by thread (strace -ff, ${window} frames; ioctl by request, clock calls by clock):`];
      for (const file of readdirSync(dir).filter((f) => f.startsWith(`${base}.`)).sort()) {
        const tid = file.slice(base.length + 1);
        const counts = new Map<string, number>();
        let total = 0;
        for (const line of readFileSync(`${dir}/${file}`, 'utf8').split('\n')) {
          const m = line.match(/^([a-z_0-9]+)\(([^,)]*)(?:, ([A-Z_0-9]+))?/);
          if (m === null) continue; // "<... resumed>", "+++ exited", signals
          const name = m[1] === 'ioctl' ? `ioctl ${m[3] ?? '?'}` : m[1]!.startsWith('clock_') ? `${m[1]} ${m[2]}` : m[1]!;
          counts.set(name, (counts.get(name) ?? 0) + 1);
          total++;
        }
        rmSync(`${dir}/${file}`);
        if (total === 0) continue;
        const top = [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${(n / window).toFixed(1)}`);
        out.push(`  ${names.get(tid) ?? `tid ${tid}`}: ${(total / window).toFixed(1)} per frame: ${top.join(', ')}`);
      }
      return out;
    },
  };
}

function post(session: Session, method: string): Promise<unknown> {
  return new Promise((resolve, reject) => session.post(method, (error, result) => (error ? reject(error) : resolve(result))));
}

/**
 * The addon alone, for the split: the same mode negotiated through the protocol layer, then the native stream
 * with our default transfers, spares and wake-ups, every completion released at once after reading each
 * packet's header flags (frame ends counted as the bare reader does). No assembly, no queue.
 */
async function addonOnly(ctx: CheckContext, server: number, wakeOn: 'transfer' | 'uvc-frame'): Promise<Sample> {
  const info = await findServedCamera();
  const transport = await openNativeDevice({ portPath: info.portPath });
  try {
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const vs = fn.streamingInterfaces[0]!;
    await transport.claimInterface(fn.videoControl.interfaceNumber);
    await transport.claimInterface(vs.interfaceNumber);
    await transport.setAltSetting(vs.interfaceNumber, 0);
    const selection = selectFormat(fn, { fourcc: 'YUYV', width: WIDTH, height: HEIGHT, fps: 30, interfaceNumber: vs.interfaceNumber });
    const params = await commit(transport, fn, await probe(transport, fn, selection));
    await transport.setAltSetting(vs.interfaceNumber, params.altSetting);
    let ends = -1 - ADDON_WARMUP;
    let others = othersMeter([server]);
    let threads0 = threadCpu();
    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const stream = transport.startStream(
      // 'uvc-frame': woken per frame, as the UVC layer asks for (streamOptionsFor); 'transfer': per completion.
      { endpoint: params.endpointAddress, type: 'iso', transfers: 25, spareTransfers: 63, packetsPerTransfer: 32, packetSize: params.bytesPerInterval, wakeOn, wakeAfterMs: 50 },
      (t) => {
        for (let i = 0; i < t.packetCount; i++) {
          if (t.packetLength[i]! >= 2 && (t.buffer[i * t.packetStride + 1]! & 0x02) !== 0 && ends < FRAMES) {
            ends++;
            if (ends === 0) {
              others = othersMeter([server]);
              threads0 = threadCpu();
              cpu0 = process.cpuUsage();
              t0 = performance.now();
            } else if (ends === FRAMES) {
              resolveDone();
            }
          }
        }
        t.release();
      },
    );
    await done;
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    const threads1 = threadCpu();
    const othersS = others();
    ctx.log(`addon only (woken per ${wakeOn}): ${FRAMES} frame ends, stream stats ${JSON.stringify(stream.stats)}; CPU by thread (s): ${threadSplit(threads0, threads1)}`);
    await stream.stop();
    const processS = (cpu.user + cpu.system) / 1e6;
    return { processS, guestS: processS + othersS, frames: FRAMES, seconds };
  } finally {
    await transport.close();
  }
}

/** v4l2-ctl capturing `count` frames; its CPU from the shell's `times` (children's user and system time). */
async function v4l2ctl(node: string, count: number, server: number): Promise<Sample> {
  const others = othersMeter([server]);
  const t0 = performance.now();
  const script = `v4l2-ctl -d ${node} --set-fmt-video=width=${WIDTH},height=${HEIGHT},pixelformat=YUYV --set-parm=30 --stream-mmap=4 --stream-count=${count} >/dev/null 2>&1 || exit 1; times`;
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const othersS = others(); // v4l2-ctl and its shell have ended: not in here
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`v4l2-ctl --stream-count=${count} failed (${code}): ${out}`);
  // `times`: the shell's own user and system time, then its children's: "0m0.010000s 0m0.020000s".
  const lines = out.trim().split('\n');
  const children = lines.at(-1)!.match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
  if (children === null) throw new Error(`cannot read the shell's times: ${out}`);
  const processS = Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 + Number(children[4]);
  return { processS, guestS: processS + othersS, frames: count, seconds };
}

function perFrame(s: Sample): { process: number; guest: number } {
  return { process: s.processS / s.frames, guest: s.guestS / s.frames };
}

export default async function check(ctx: CheckContext): Promise<void> {
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options: { pace: 'fast' }, label: 'camera' });
  let port: number | undefined;
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(CAMERA_VID, CAMERA_PID);
    await waitForDriver(usb.path, 1, 'uvcvideo');
    const server = cameraServerPid();
    // What a clock read costs depends on it (vDSO with tsc; a system call and an emulated device read otherwise).
    const clocksource = readFileSync('/sys/devices/system/clocksource/clocksource0/current_clocksource', 'utf8').trim();

    // uvcvideo + v4l2-ctl: the long run minus the short one.
    const node = (await waitForCaptureNode(usb.path)).path;
    const short = await v4l2ctl(node, SHORT, server);
    const long = await v4l2ctl(node, SHORT + FRAMES, server);
    const kernel: Sample = { processS: long.processS - short.processS, guestS: long.guestS - short.guestS, frames: FRAMES, seconds: long.seconds - short.seconds };
    ctx.log(`uvcvideo + v4l2-ctl: ${SHORT} frames ${JSON.stringify(short)}, ${SHORT + FRAMES} frames ${JSON.stringify(long)}`);

    // The reader runs before and after our runs and counts as the two together: the host's load drifts during a
    // round (the reader's own CPU per frame has moved 2x between rounds), and this way it drifts under both alike.
    const readerBefore = await bareReader(ctx, server);
    await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
    ctx.log(`a clock read (process.hrtime.bigint, clocksource ${clocksource}): ${clockReadNs().toFixed(0)} ns`);
    const driver = await ours(ctx, server);
    await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
    const addon = await addonOnly(ctx, server, 'uvc-frame');
    await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
    const addonPerTransfer = await addonOnly(ctx, server, 'transfer');
    await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
    const readerAfter = await bareReader(ctx, server);
    await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
    const reader: Sample = {
      processS: readerBefore.processS + readerAfter.processS,
      guestS: readerBefore.guestS + readerAfter.guestS,
      frames: readerBefore.frames + readerAfter.frames,
      seconds: readerBefore.seconds + readerAfter.seconds,
    };
    // Where our CPU goes: the same again under V8's sampling profiler (not counted in the table).
    await ours(ctx, server, { kind: 'profile', path: `${ctx.runDir}/native-cpu.cpuprofile` });
    await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
    // And the system calls each of our threads makes per frame (strace, where the guest has it).
    if (existsSync(STRACE)) {
      await ours(ctx, server, { kind: 'syscalls', path: `${ctx.runDir}/native-cpu-syscalls.txt` });
      await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
      // The reader's, for comparison (strace -c over its whole run, set-up included: SYSCALL_FRAMES frames).
      const traced = await run(STRACE, ['-f', '-c', '-o', `${ctx.runDir}/native-cpu-syscalls-reader.txt`, `${ctx.toolsDir}/uvc-count`, '--frames', String(SYSCALL_FRAMES), '--transfers', '25', '--packets', '32'], { timeoutMs: 600_000 });
      assert(traced.stdout.includes('RESULT ok'), `uvc-count under strace failed: ${traced.stdout}${traced.stderr}`);
      ctx.log(`uvc-count under strace -c, ${SYSCALL_FRAMES} frames:\n${readFileSync(`${ctx.runDir}/native-cpu-syscalls-reader.txt`, 'utf8')}`);
      await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
    } else {
      ctx.log(`no ${STRACE} in the guest: system calls per frame not counted`);
    }

    const base = perFrame(reader);
    const rows: [string, Sample][] = [
      ['bare C libusb reader (uvc-count), before and after ours together', reader],
      ['  before', readerBefore],
      ['  after', readerAfter],
      ['uvc-capture (native addon)', driver],
      ['  of which: the addon alone (transfers released at once, no assembly)', addon],
      ['  the addon alone, JavaScript woken per transfer (wakeOn: transfer)', addonPerTransfer],
      ['uvcvideo + v4l2-ctl', kernel],
    ];
    const lines = [
      `CPU per frame, iso YUYV ${WIDTH}x${HEIGHT}, ${FRAMES} frames each, ratios to the bare reader (TCG: ratios only)`,
      `| consumer | process ms/frame | process × reader | guest ms/frame | guest × reader | fps |`,
      `|---|---:|---:|---:|---:|---:|`,
      ...rows.map(([name, s]) => {
        const p = perFrame(s);
        return `| ${name} | ${(p.process * 1000).toFixed(2)} | ${(p.process / base.process).toFixed(2)} | ${(p.guest * 1000).toFixed(2)} | ${(p.guest / base.guest).toFixed(2)} | ${(s.frames / s.seconds).toFixed(1)} |`;
      }),
    ];
    for (const line of lines) ctx.log(line);
    writeFileSync(`${ctx.runDir}/cpu-per-frame.txt`, `${lines.join('\n')}\n`);
    const ratio = perFrame(driver).process / base.process;
    ctx.log(`goal: uvc-capture ≤ 1.5 × the bare reader (process CPU): ${ratio.toFixed(2)} × ${ratio <= 1.5 ? '(met)' : '(NOT met)'}`);
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}
