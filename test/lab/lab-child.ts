// Child process for cleanup.test.ts, which must see what happens when a lab's owner dies.
//   node lab-child.js exit         builds a lab, prints it as JSON, exits without destroy()
//   node lab-child.js crash FILE   (inside a nested enter.sh) builds a lab with helpers, links a veth
//                                  into the namespace bind-mounted at FILE, prints READY, waits to be killed

import { run } from "../../src/lab/exec.js";
import { createLab } from "../../src/lab/lab.js";

const [mode, parentNsFile] = process.argv.slice(2);
// `node --test dist/test/` (Node 20) runs every .js under a test/ directory as a test file, this
// one included, without arguments: then it does nothing.
const lab =
  mode === undefined
    ? undefined
    : await createLab({ targets: [{ name: "x", impair: { to: { delayMs: 1 } }, tcpPorts: [80] }] });
const capture = lab ? await lab.capture({ iface: lab.target("x").hostIf }) : undefined;

if (mode === undefined || !lab) {
  // imported or run bare: nothing to do
} else if (mode === "exit") {
  process.stdout.write(
    `${JSON.stringify({ namespaces: lab.namespaces, hostIfs: lab.hostIfs, pids: lab.procs.pids() })}\n`,
  );
  // No destroy(): the exit hook must clean up.
  process.exit(0);
} else if (mode === "crash" && parentNsFile) {
  // A veth whose other end lives in the parent test namespace: it can only disappear if the kernel
  // destroys this (nested) namespace.
  await run("touch", ["/run/netns/parent"]);
  await run("mount", ["--bind", parentNsFile, "/run/netns/parent"]);
  await run("ip", [
    "link",
    "add",
    "name",
    "nl99-0",
    "type",
    "veth",
    "peer",
    "name",
    "nl99-1",
    "netns",
    "parent",
  ]);
  process.stdout.write(`READY ${capture?.dir}\n`);
  setInterval(() => undefined, 1000);
} else {
  process.stderr.write("usage: lab-child.js exit | crash FILE\n");
  process.exit(64);
}
