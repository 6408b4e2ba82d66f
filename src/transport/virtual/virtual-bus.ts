/**
 * A shared virtual bus: one host controller's bandwidth domain that several device models plug into (an EHCI
 * with a hub, or one xHCI root port with a hub: every xHCI root port is a domain of its own). The in-process host
 * asks it for periodic bandwidth as usbcore asks the host controller driver (usb_hcd_alloc_bandwidth):
 *
 * - at SET_CONFIGURATION for the periodic endpoints of every interface's alt setting 0 (a camera's status
 *   interrupt endpoint), which a device keeps while it is plugged in, opened or not;
 * - at SET_INTERFACE for the new alt setting's endpoints, in place of the old one's. When they do not fit, the
 *   request never reaches the device and the call fails ENOSPC, as Linux's usb_set_interface() does with an
 *   xHCI ("Not enough bandwidth for new device state": Configure Endpoint → Bandwidth Error → -ENOSPC), and
 *   usbfs's SETINTERFACE passes it on;
 * - releasing an interface frees its alt setting's bandwidth (usbcore selects alt setting 0 when a driver
 *   unbinds); an unplugged device frees everything it held.
 *
 * The arithmetic is Linux's (periodic-budget.ts). Every device on a bus runs at the bus's speed: a full-speed
 * device behind a high-speed hub would need a transaction translator's budget, which is not modelled.
 */
import { UvcError } from '../../errors.js';
import type { UsbDeviceModel } from '../device-model.js';
import {
  BUDGET_LIMITS,
  PeriodicSchedule,
  describeAmount,
  endpointCost,
  type BudgetLimits,
  type BudgetSpeed,
  type EndpointCost,
  type PeriodicEndpoint,
  type PlacedCost,
} from '../periodic-budget.js';
import type { AltSettingLayout, ConfigLayout } from './config-layout.js';

export interface VirtualBusOptions {
  /** The bus's speed, and every device's on it. Default 'high'. */
  speed?: BudgetSpeed;
  /** Reported as the devices' busNumber. Default: 1 for the first bus made, 2 for the next, … */
  busNumber?: number;
}

export interface PlugOptions {
  /** How messages name the device. Default: its port path ('1-2'). */
  name?: string;
}

/** Periodic bandwidth one device holds for one interface. */
export interface BandwidthHolding {
  /** The device's name (see PlugOptions.name). */
  device: string;
  portPath: string;
  interfaceNumber: number;
  altSetting: number;
  /** In the bus's unit: µs per interval (full, high speed) or xHCI blocks (SuperSpeed). */
  amount: number;
}

export interface BusUsage {
  speed: BudgetSpeed;
  unit: BudgetLimits['unit'];
  /** The most the periodic schedule may take per interval. */
  limit: number;
  /** What the busiest interval holds. */
  used: number;
  free: number;
  holdings: BandwidthHolding[];
}

interface Holding {
  interfaceNumber: number;
  altSetting: number;
  placed: PlacedCost[];
}

let nextBusNumber = 1;
const portsByModel = new WeakMap<UsbDeviceModel, BusPort>();

/** The bus a device model is plugged into, if any. @internal The in-process host's lookup. */
export function busPortOf(model: UsbDeviceModel): BusPort | undefined {
  return portsByModel.get(model);
}

/** The periodic endpoints of an alt setting, as the budget arithmetic takes them. */
export function periodicEndpointsOf(alt: AltSettingLayout | undefined): PeriodicEndpoint[] {
  if (alt === undefined) return [];
  const endpoints: PeriodicEndpoint[] = [];
  for (const endpoint of alt.endpoints) {
    if (endpoint.kind !== 'iso' && endpoint.kind !== 'interrupt') continue;
    endpoints.push({
      address: endpoint.address,
      kind: endpoint.kind,
      wMaxPacketSize: endpoint.wMaxPacketSize,
      bInterval: endpoint.bInterval,
      maxBurst: endpoint.maxBurst,
      mult: endpoint.mult,
    });
  }
  return endpoints;
}

export class VirtualBus {
  readonly speed: BudgetSpeed;
  readonly busNumber: number;
  /** @internal */ readonly schedule: PeriodicSchedule;
  private readonly ports: BusPort[] = [];
  /** SET_INTERFACE and SET_CONFIGURATION run one at a time per bus (usbcore's bandwidth_mutex). */
  private lock: Promise<void> = Promise.resolve();

  constructor(options: VirtualBusOptions = {}) {
    const speed = options.speed ?? 'high';
    if (!(speed in BUDGET_LIMITS)) throw new UvcError('EINVAL', `a virtual bus is 'full', 'high' or 'super' speed, got ${JSON.stringify(speed)}`);
    if (options.busNumber !== undefined && !(Number.isInteger(options.busNumber) && options.busNumber >= 1 && options.busNumber <= 255)) {
      throw new UvcError('EINVAL', `busNumber must be 1…255, got ${String(options.busNumber)}`);
    }
    this.speed = speed;
    this.busNumber = options.busNumber ?? nextBusNumber++;
    this.schedule = new PeriodicSchedule(speed);
  }

  get limits(): Readonly<BudgetLimits> {
    return this.schedule.limits;
  }

  /**
   * Plugs a device into the next free port. EINVAL when its speed is not the bus's, EBUSY when it is on a bus
   * already. Plug devices before opening them: a device opened before it was plugged is not on the bus.
   */
  plug(model: UsbDeviceModel, options: PlugOptions = {}): void {
    if (portsByModel.has(model)) throw new UvcError('EBUSY', 'the device is plugged into a virtual bus already');
    if (model.speed !== this.speed) {
      throw new UvcError('EINVAL', `a ${model.speed}-speed device cannot go on a ${this.speed}-speed virtual bus (transaction translators are not modelled)`);
    }
    let port = 1;
    while (this.ports.some((p) => p.port === port)) port++;
    if (port > 127) throw new UvcError('ENOSPC', `virtual bus ${this.busNumber} has 127 devices`);
    const busPort = new BusPort(this, model, port, options.name ?? `${this.busNumber}-${port}`);
    this.ports.push(busPort);
    portsByModel.set(model, busPort);
  }

  /** Takes a device off the bus, freeing what it held. Idempotent. */
  remove(model: UsbDeviceModel): void {
    const port = portsByModel.get(model);
    if (port === undefined || port.bus !== this) return;
    port.detach();
    this.ports.splice(this.ports.indexOf(port), 1);
    portsByModel.delete(model);
  }

  /** The devices on the bus, by port. */
  get devices(): Array<{ name: string; portPath: string; port: number; model: UsbDeviceModel }> {
    return this.ports.map((p) => ({ name: p.name, portPath: p.portPath, port: p.port, model: p.model }));
  }

  /** What the periodic schedule holds, and for whom. */
  get usage(): BusUsage {
    const limits = this.limits;
    return {
      speed: this.speed,
      unit: limits.unit,
      limit: limits.limit,
      used: this.schedule.peak,
      free: this.schedule.free,
      holdings: this.holdings(),
    };
  }

  /** Every holding, by device and interface. */
  holdings(except?: UsbDeviceModel): BandwidthHolding[] {
    const out: BandwidthHolding[] = [];
    for (const port of this.ports) if (port.model !== except) out.push(...port.describeHoldings());
    return out;
  }

  /**
   * A copy of the schedule without what the given interfaces hold (by port path and interface number): what a
   * planner places its trial on. It is booked as the bus is, so it agrees with what SET_INTERFACE will find.
   */
  scheduleWithout(interfaces: ReadonlyArray<{ portPath: string; interfaceNumber: number }> = []): PeriodicSchedule {
    const copy = new PeriodicSchedule(this.speed);
    for (const port of this.ports) {
      const skip = new Set(interfaces.filter((i) => i.portPath === port.portPath).map((i) => i.interfaceNumber));
      copy.add(port.placedExcept(skip));
    }
    return copy;
  }

  /** @internal Runs `step` with the bus's bandwidth lock held. */
  exclusive<T>(step: () => Promise<T>): Promise<T> {
    const run = this.lock.then(step);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** @internal ENOSPC for a request that does not fit, naming who holds the bandwidth. */
  noSpace(port: BusPort, what: string, costs: readonly EndpointCost[], fitting: number[] | null): UvcError {
    const needed = costs.reduce((sum, c) => sum + c.amount, 0);
    const others = this.holdings(port.model).filter((h) => h.amount > 0);
    const held = others.length === 0 ? 'nothing else holds any' : `held by ${others.map(describeHolding).join(', ')}`;
    return new UvcError(
      'ENOSPC',
      `not enough periodic bandwidth on virtual bus ${this.busNumber} (${this.speed} speed) for ${what} of ${port.label}: it needs ${describeAmount(this.speed, needed)}, ` +
        `${round(this.schedule.free)} of ${this.limits.limit} ${this.limits.unit} are free; ${held}`,
      {
        details: {
          busNumber: this.busNumber,
          speed: this.speed,
          unit: this.limits.unit,
          limit: this.limits.limit,
          needed,
          free: this.schedule.free,
          device: port.name,
          holdings: others,
          ...(fitting !== null ? { fittingAltSettings: fitting } : {}),
        },
      },
    );
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function describeHolding(h: BandwidthHolding): string {
  const who = h.device === h.portPath ? h.portPath : `'${h.device}' (${h.portPath})`;
  return `${who} interface ${h.interfaceNumber} alt ${h.altSetting} (${round(h.amount)})`;
}

/** One device's place on a bus and the bandwidth it holds. @internal The in-process host drives it. */
export class BusPort {
  private readonly holdingsByInterface = new Map<number, Holding>();
  private readonly onUnplug = (): void => this.freeAll();

  constructor(
    readonly bus: VirtualBus,
    readonly model: UsbDeviceModel,
    readonly port: number,
    readonly name: string,
  ) {
    model.on('unplug', this.onUnplug);
  }

  get busNumber(): number {
    return this.bus.busNumber;
  }
  /** The device's address on the bus (its port number). */
  get address(): number {
    return this.port;
  }
  get portPath(): string {
    return `${this.bus.busNumber}-${this.port}`;
  }
  get label(): string {
    return this.name === this.portPath ? this.portPath : `'${this.name}' (${this.portPath})`;
  }

  /**
   * SET_CONFIGURATION: books the periodic endpoints of every interface's alt setting 0 in place of whatever
   * the device held. ENOSPC (and nothing changes) when they do not fit.
   */
  configure(layout: ConfigLayout): Promise<void> {
    return this.bus.exclusive(async () => {
      const wanted = new Map<number, { altSetting: number; costs: EndpointCost[] }>();
      for (const [interfaceNumber, alts] of layout.interfaces) {
        const costs = periodicEndpointsOf(alts.get(0)).map((e) => endpointCost(this.bus.speed, e));
        if (costs.length > 0) wanted.set(interfaceNumber, { altSetting: 0, costs });
      }
      const previous = [...this.holdingsByInterface.values()];
      for (const holding of previous) this.bus.schedule.remove(holding.placed);
      this.holdingsByInterface.clear();
      const booked: Holding[] = [];
      for (const [interfaceNumber, { altSetting, costs }] of wanted) {
        const placed = this.bus.schedule.place(costs);
        if (placed === null) {
          for (const holding of booked) this.bus.schedule.remove(holding.placed);
          for (const holding of previous) {
            this.bus.schedule.add(holding.placed);
            this.holdingsByInterface.set(holding.interfaceNumber, holding);
          }
          throw this.bus.noSpace(this, `configuration ${layout.configurationValue}`, costs, null);
        }
        this.bus.schedule.add(placed);
        const holding = { interfaceNumber, altSetting, placed };
        booked.push(holding);
        this.holdingsByInterface.set(interfaceNumber, holding);
      }
    });
  }

  /**
   * SET_INTERFACE: books the new alt setting's periodic endpoints in place of the interface's current ones,
   * then sends the request (`send`). ENOSPC before anything is sent when they do not fit; if the request fails,
   * the interface keeps what it held.
   */
  selectAlt(layout: ConfigLayout, interfaceNumber: number, altSetting: number, send: () => Promise<void>): Promise<void> {
    return this.bus.exclusive(async () => {
      const alts = layout.interfaces.get(interfaceNumber);
      const costs = periodicEndpointsOf(alts?.get(altSetting)).map((e) => endpointCost(this.bus.speed, e));
      const previous = this.holdingsByInterface.get(interfaceNumber);
      if (previous) this.bus.schedule.remove(previous.placed);
      const placed = this.bus.schedule.place(costs);
      if (placed === null) {
        // Which alt settings of this interface would fit instead (a smaller mode's), for the caller's advice.
        const fitting: number[] = [];
        for (const [alt, layoutOfAlt] of alts ?? []) {
          const trial = periodicEndpointsOf(layoutOfAlt).map((e) => endpointCost(this.bus.speed, e));
          if (this.bus.schedule.place(trial) !== null) fitting.push(alt);
        }
        if (previous) this.bus.schedule.add(previous.placed);
        throw this.bus.noSpace(this, `interface ${interfaceNumber} alt setting ${altSetting}`, costs, fitting.sort((a, b) => a - b));
      }
      this.bus.schedule.add(placed);
      try {
        await send();
      } catch (error) {
        this.bus.schedule.remove(placed);
        if (previous) this.bus.schedule.add(previous.placed);
        throw error;
      }
      if (placed.length > 0) this.holdingsByInterface.set(interfaceNumber, { interfaceNumber, altSetting, placed });
      else this.holdingsByInterface.delete(interfaceNumber);
    });
  }

  /** The interface is let go: usbcore selects its alt setting 0, so only that one's endpoints stay booked. */
  releaseInterface(layout: ConfigLayout | undefined, interfaceNumber: number): void {
    const holding = this.holdingsByInterface.get(interfaceNumber);
    if (holding === undefined || holding.altSetting === 0) return;
    this.bus.schedule.remove(holding.placed);
    this.holdingsByInterface.delete(interfaceNumber);
    const costs = periodicEndpointsOf(layout?.interfaces.get(interfaceNumber)?.get(0)).map((e) => endpointCost(this.bus.speed, e));
    // Alt setting 0 never needs more than what was just freed, in practice; should it not fit, it is not booked.
    const placed = costs.length > 0 ? this.bus.schedule.place(costs) : null;
    if (placed !== null) {
      this.bus.schedule.add(placed);
      this.holdingsByInterface.set(interfaceNumber, { interfaceNumber, altSetting: 0, placed });
    }
  }

  /** @internal */
  describeHoldings(): BandwidthHolding[] {
    return [...this.holdingsByInterface.values()].map((h) => ({
      device: this.name,
      portPath: this.portPath,
      interfaceNumber: h.interfaceNumber,
      altSetting: h.altSetting,
      amount: h.placed.reduce((sum, c) => sum + c.amount, 0),
    }));
  }

  /** @internal */
  placedExcept(interfaces: ReadonlySet<number>): PlacedCost[] {
    return [...this.holdingsByInterface.values()].filter((h) => !interfaces.has(h.interfaceNumber)).flatMap((h) => h.placed);
  }

  /** @internal Off the bus. */
  detach(): void {
    this.freeAll();
    this.model.off('unplug', this.onUnplug);
  }

  private freeAll(): void {
    for (const holding of this.holdingsByInterface.values()) this.bus.schedule.remove(holding.placed);
    this.holdingsByInterface.clear();
  }
}
