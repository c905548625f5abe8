// Child process of faults.test.ts: installs the daemon's fault handlers, then commits the faults
// that are fatal in Node by default, and prints what was counted. Argument "storm": throws until
// the storm limit stops it.
import { writeSync } from "node:fs";
import { surviveFaults } from "../../src/daemon/faults.js";
import { capturedLogger } from "../support/log-capture.js";

const storm = process.argv[2] === "storm";
const counted: string[] = [];
const { log, lines: logged } = capturedLogger("INFO");
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
