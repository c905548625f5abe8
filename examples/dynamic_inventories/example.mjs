// An example dynamic inventory for netprobify. Put modules like this one in `dynamic_inventories/`
// beside netprobify.yaml; netprobify starts each in its own child process. This one reads its own
// configuration (example.yaml beside netprobify.yaml: a list of hosts, their probe settings and a
// refresh period) and publishes the hosts as targets, again at every refresh, until netprobify stops
// it. A real module would fetch the list from a CMDB or an API the same way.

export async function start({ name, loadConfig, publish, reportFailure, log, signal }) {
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
      conf = (await loadConfig()) ?? {}; // example.yaml, parsed; undefined when there is none
    } catch (err) {
      // Throwing would restart the module with backoff; reporting keeps it running and the last
      // published list in force, and counts the failure in netprobify_inventory_errors_total.
      reportFailure(`cannot read my configuration: ${err.message}`);
      await sleep(10_000);
      continue;
    }
    const targets = (conf.hosts ?? []).map((h) => ({
      hostname: h, // the target is named `${name}_${h}`, with description `from_${name}`
      type: conf.type ?? "TCPsyn",
      ...(conf.type === "ICMPping" ? {} : { dst_port: conf.dst_port ?? 443 }),
      nb_packets: conf.nb_packets ?? 10,
      groups: conf.groups, // undefined: the groups that accept auto-registration
      lifetime: "1d", // expires one day after creation_date unless published again
      creation_date: new Date().toISOString(),
    }));
    publish(targets); // replaces the previous list
    log.info(`${name}: published ${targets.length} targets`);
    await sleep((conf.refresh_seconds ?? 300) * 1000);
  }
}
