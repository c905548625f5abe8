// An engine on the fake addon, as the engine's unit tests open it: both families, ten source
// ports, the fake kernel clock at the wall clock's time. Options override the defaults.
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";

export function fakeEngine(options: Partial<EngineOptions> = {}): { fake: FakeBinding; engine: Engine } {
  const fake = new FakeBinding();
  fake.clockNs = BigInt(Date.now()) * 1_000_000n;
  const engine = new Engine({
    sockets: new RawSockets(fake),
    families: [4, 6],
    ports: { lo: 65000, hi: 65009 },
    iterationLimitMs: 5000,
    ...options,
  });
  return { fake, engine };
}
