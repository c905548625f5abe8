// An example dynamic inventory for netprobify. Put modules like this one in `dynamic_inventories/`
// beside netprobify.yaml; netprobify starts each in its own worker thread. This one reads its own
// configuration (example.yaml beside netprobify.yaml: a list of hosts and a refresh period) and
// publishes the hosts as targets, again at every refresh, until netprobify stops it.
import { readFile } from "node:fs/promises";
import { parse } from "yaml";

export async function start({ name, configPath, publish, log, signal }) {
  const sleep = (ms) =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      });
    });
  while (!signal.aborted) {
    let conf;
    try {
      conf = parse(await readFile(configPath, "utf8")) ?? {};
    } catch (err) {
      // Throwing would restart the module with backoff; here we keep the last list and retry.
      log.warn(`cannot read ${configPath}: ${err.message}`);
      await sleep(10_000);
      continue;
    }
    const targets = (conf.hosts ?? []).map((h) => ({
      hostname: h, // the target is named `${name}_${h}`, with description `from_${name}`
      type: conf.type ?? "TCPsyn",
      dst_port: conf.dst_port ?? 443,
      nb_packets: conf.nb_packets ?? 10,
      lifetime: "1d", // expires one day after creation_date unless published again
      creation_date: new Date().toISOString(),
    }));
    publish(targets); // replaces the previous list
    log.info(`${name}: published ${targets.length} targets`);
    await sleep((conf.refresh_seconds ?? 300) * 1000);
  }
}
