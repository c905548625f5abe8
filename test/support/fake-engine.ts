// An engine on the fake addon, as the engine's unit tests open it: both families, ten source
// ports, the fake kernel clock at the wall clock's time. Options override the defaults; `sockets`
// wraps the fake in sockets of the test's own (e.g. receive threads that misbehave). Also the
// two-address target those tests probe, from the group's fixed source.
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import type { PlanTargetInput } from "../../src/engine/plan.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";

export function fakeEngine(
  options: Partial<EngineOptions> = {},
  sockets: (fake: FakeBinding) => RawSockets = (fake) => new RawSockets(fake),
): { fake: FakeBinding; engine: Engine } {
  const fake = new FakeBinding();
  fake.clockNs = BigInt(Date.now()) * 1_000_000n;
  const engine = new Engine({
    sockets: sockets(fake),
    families: [4, 6],
    ports: { lo: 65000, hi: 65009 },
    iterationLimitMs: 5000,
    ...options,
  });
  return { fake, engine };
}

/** A target of two lab addresses of `family`, probed from the fake engine's ten source ports. */
export function twoAddressTarget(
  name: string,
  type: PlanTargetInput["type"],
  family: "ipv4" | "ipv6",
  o: Pick<PlanTargetInput, "nbPackets" | "timeout"> & Partial<PlanTargetInput>,
): PlanTargetInput {
  return {
    name,
    type,
    family,
    addresses: family === "ipv4" ? ["198.18.1.1", "198.18.1.2"] : ["fd18:1::1", "fd18:1::2"],
    dontFragment: true,
    groups: [
      {
        name: "g",
        srcPortA: 65000,
        srcPortZ: 65009,
        dscp: 0,
        src: family === "ipv4" ? "198.18.0.2" : "fd18::2",
      },
    ],
    ...o,
  };
}
