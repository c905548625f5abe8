// Child process of faults.test.ts: installs the daemon's fault handlers, then commits the faults
// that are fatal in Node by default, and prints what was counted. Argument "storm": throws until
// the storm limit stops it.
import { writeSync } from "node:fs";
import { Writable } from "node:stream";
import { surviveFaults } from "../../src/daemon/faults.js";
import { createLogger } from "../../src/daemon/logger.js";

const storm = process.argv[2] === "storm";
const counted: string[] = [];
const logged: string[] = [];
const log = createLogger("INFO", {
  pretty: false,
  destination: new Writable({
    write(chunk, _e, cb) {
      logged.push(String(chunk));
      cb();
    },
  }),
});
surviveFaults({
  log,
  count: (where) => counted.push(where),
  stormCount: 3,
  onStorm: () => {
    writeSync(1, `${JSON.stringify({ storm: true, counted })}\n`);
    process.exit(70);
  },
});

if (storm) {
  for (let i = 0; i < 10; i++)
    setTimeout(() => {
      throw new Error(`boom ${i}`);
    }, i);
} else {
  void Promise.reject(new Error("nobody handles this"));
  setTimeout(() => {
    throw new Error("thrown from a timer");
  }, 1);
  setTimeout(() => {
    writeSync(1, `${JSON.stringify({ counted, logged: logged.length })}\n`);
  }, 100);
}
