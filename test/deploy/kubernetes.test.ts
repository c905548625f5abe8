// The Kubernetes manifests (deploy/kubernetes/): every object validated against the Kubernetes API
// schemas (the kubernetes-models package, generated from Kubernetes' OpenAPI definitions), then what
// a schema cannot know: the workloads run with CAP_NET_RAW alone as a non-root user, probe
// /-/ready and /-/healthy on the configured metrics port, pass the shard index, and mount a
// configuration that `netprobify check` accepts for every shard; the mesh's inventory module,
// resolving a name that stands for three nodes, publishes the other two as valid targets.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { DaemonSet, StatefulSet } from "kubernetes-models/apps/v1";
import { ConfigMap, Service } from "kubernetes-models/v1";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/config/load.js";
import { validateEntries } from "../../src/inventory/entries.js";
import { BIN, REPO } from "../support/paths.js";

const K8S = join(REPO, "deploy/kubernetes");
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "apps/v1/StatefulSet": StatefulSet,
  "apps/v1/DaemonSet": DaemonSet,
};

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML, checked field by field here
type Obj = any;

/** Every object of every YAML file of a deployment folder, by kind. */
function objects(folder: string): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const f of readdirSync(join(K8S, folder)).filter((f) => f.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(join(K8S, folder, f), "utf8"))) {
      assert.deepEqual(doc.errors, [], `${folder}/${f}`);
      const o = doc.toJS() as Obj;
      assert.ok(!out.has(o.kind), `one ${o.kind} per folder`);
      out.set(o.kind, o);
    }
  }
  return out;
}

const FOLDERS = { sharded: "StatefulSet", mesh: "DaemonSet" } as const;
const dir = mkdtempSync(join(tmpdir(), "npf-k8s-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes the ConfigMap's files where the workload mounts them (items' paths, or the keys). */
function mountConfig(folder: string, workload: Obj, cm: Obj): string {
  const root = join(dir, folder);
  const volume = workload.spec.template.spec.volumes.find((v: Obj) => v.configMap?.name === cm.metadata.name);
  const items: { key: string; path: string }[] =
    volume.configMap.items ?? Object.keys(cm.data).map((key) => ({ key, path: key }));
  for (const { key, path } of items) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), cm.data[key]);
  }
  return root;
}

function check(file: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, "check", "--json", file], {
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
}

describe("Kubernetes manifests: the API schemas", () => {
  test("every object of deploy/kubernetes/*/ validates against its Kubernetes schema", () => {
    const folders = readdirSync(K8S).sort();
    assert.deepEqual(folders, Object.keys(FOLDERS).sort());
    for (const folder of folders) {
      const objs = objects(folder);
      assert.deepEqual(
        [...objs.keys()].sort(),
        ["ConfigMap", "Service", FOLDERS[folder as keyof typeof FOLDERS]].sort(),
      );
      for (const [kind, o] of objs) {
        const Model = MODELS[`${o.apiVersion}/${kind}`];
        assert.ok(Model, `${folder}: no schema for ${o.apiVersion} ${kind}`);
        new Model(o as never).validate();
      }
    }
  });

  test("the validator rejects what the API server would (a string replica count, a scalar capability list)", () => {
    const s = objects("sharded").get("StatefulSet");
    assert.throws(() => new StatefulSet({ ...s, spec: { ...s.spec, replicas: "3" } }).validate(), /replicas/);
    const d = structuredClone(objects("mesh").get("DaemonSet"));
    d.spec.template.spec.containers[0].securityContext.capabilities.add = "NET_RAW";
    assert.throws(() => new DaemonSet(d).validate(), /capabilities\/add/);
  });
});

describe("Kubernetes manifests: what the schemas cannot check", () => {
  for (const [folder, kind] of Object.entries(FOLDERS)) {
    test(`${folder}: CAP_NET_RAW only, non-root, /-/ready and /-/healthy on the metrics port, Service and selectors agree`, () => {
      const objs = objects(folder);
      const w = objs.get(kind);
      const svc = objs.get("Service");
      const cm = objs.get("ConfigMap");
      const pod = w.spec.template.spec;
      assert.equal(pod.containers.length, 1);
      const c = pod.containers[0];
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.ok(pod.securityContext.runAsUser > 0);
      assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
      assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"], add: ["NET_RAW"] });
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.privileged, undefined);

      const port = parse(cm.data["netprobify.yaml"]).global.prometheus_port;
      assert.deepEqual(c.ports, [{ name: "metrics", containerPort: port }]);
      assert.deepEqual(c.readinessProbe.httpGet, { path: "/-/ready", port: "metrics" });
      assert.deepEqual(c.livenessProbe.httpGet, { path: "/-/healthy", port: "metrics" });
      assert.deepEqual(c.args, ["run", "/etc/netprobify/netprobify.yaml"]);
      const mount = c.volumeMounts.find((m: Obj) => m.mountPath === "/etc/netprobify");
      assert.equal(pod.volumes.find((v: Obj) => v.name === mount.name).configMap.name, cm.metadata.name);
      assert.equal(mount.readOnly, true);

      const labels = w.spec.template.metadata.labels;
      assert.deepEqual(w.spec.selector.matchLabels, labels);
      assert.deepEqual(svc.spec.selector, labels);
      assert.equal(svc.spec.clusterIP, "None", "headless");
      assert.deepEqual(svc.spec.ports, [{ name: "metrics", port, targetPort: "metrics" }]);
      assert.equal(w.spec.template.metadata.annotations["prometheus.io/port"], String(port));
    });
  }

  test("sharded: the pod ordinal is the shard index, replicas = global.shard.count, every shard's config is valid", () => {
    const objs = objects("sharded");
    const s = objs.get("StatefulSet");
    assert.equal(s.spec.serviceName, objs.get("Service").metadata.name);
    const env = s.spec.template.spec.containers[0].env;
    assert.deepEqual(env, [
      {
        name: "NETPROBIFY_SHARD_INDEX",
        valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } },
      },
    ]);
    const root = mountConfig("sharded", s, objs.get("ConfigMap"));
    const file = join(root, "netprobify.yaml");
    for (let i = 0; i < s.spec.replicas; i++) {
      const r = check(file, { NETPROBIFY_SHARD_INDEX: String(i) });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).summary.shard, { index: i, count: s.spec.replicas });
    }
    const beyond = check(file, { NETPROBIFY_SHARD_INDEX: String(s.spec.replicas) });
    assert.equal(beyond.status, 65, "an ordinal beyond the count is refused");
  });

  test("sharded: the shared inventory's entries are valid targets", async () => {
    const objs = objects("sharded");
    const root = mountConfig("sharded", objs.get("StatefulSet"), objs.get("ConfigMap"));
    process.env.NETPROBIFY_SHARD_INDEX = "0";
    try {
      const config = await loadConfig(join(root, "netprobify.yaml"));
      const inv = config.inventories.get("shared") as { type: string; path: string };
      assert.equal(inv.type, "file");
      const entries = parseAllDocuments(readFileSync(inv.path, "utf8"))[0]!.toJS();
      const r = validateEntries("shared", entries, config, new Date());
      assert.deepEqual(r.invalid, []);
      assert.equal(r.targets.length, entries.length);
    } finally {
      delete process.env.NETPROBIFY_SHARD_INDEX;
    }
  });

  test("mesh: host network, the module mounted in dynamic_inventories/, its own address from the downward API", () => {
    const objs = objects("mesh");
    const pod = objs.get("DaemonSet").spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, "ClusterFirstWithHostNet");
    assert.deepEqual(
      pod.containers[0].env.map((e: Obj) => [e.name, e.valueFrom.fieldRef.fieldPath]),
      [
        ["POD_IP", "status.podIP"],
        ["POD_IPS", "status.podIPs"],
      ],
    );
    const root = mountConfig("mesh", objs.get("DaemonSet"), objs.get("ConfigMap"));
    assert.deepEqual(readdirSync(join(root, "dynamic_inventories")), ["mesh.mjs"]);
    const r = check(join(root, "netprobify.yaml"));
    assert.equal(r.status, 0, r.stderr);
  });
});

describe("Kubernetes mesh inventory (needs root)", () => {
  test("a Service name standing for three nodes: this pod publishes the other two, valid as targets", async () => {
    const objs = objects("mesh");
    const root = mountConfig("mesh", objs.get("DaemonSet"), objs.get("ConfigMap"));
    const mesh = join(root, "dynamic_inventories/mesh.mjs");
    // The Service's DNS answer, played by /etc/hosts in a mount namespace of the module's own.
    const hosts = join(dir, "hosts");
    writeFileSync(
      hosts,
      "127.0.0.1 localhost\n198.18.5.1 netprobify-mesh\n198.18.5.2 netprobify-mesh\nfd18::5:3 netprobify-mesh\n",
    );
    const harness = join(dir, "harness.mjs");
    writeFileSync(
      harness,
      `import { readFileSync } from "node:fs";
import { parse } from ${JSON.stringify(join(REPO, "node_modules/yaml/dist/index.js"))};
const { start } = await import(${JSON.stringify(mesh)});
const ac = new AbortController();
const published = [];
await start({
  name: "mesh",
  loadConfig: async () => parse(readFileSync(${JSON.stringify(join(root, "mesh.yaml"))}, "utf8")),
  publish: (t) => { published.push(t); ac.abort(); },
  reportFailure: (m) => { console.error(m); process.exit(3); },
  log: { info() {}, debug() {}, warn() {}, error() {} },
  signal: ac.signal,
});
console.log(JSON.stringify(published));
`,
    );
    const r = spawnSync(
      "unshare",
      [
        "--mount",
        "sh",
        "-c",
        'mount --bind "$1" /etc/hosts && exec "$2" "$3"',
        "sh",
        hosts,
        process.execPath,
        harness,
      ],
      {
        env: { ...process.env, POD_IP: "198.18.5.2", POD_IPS: "198.18.5.2" },
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const [list] = JSON.parse(r.stdout);
    assert.deepEqual(list, [
      { type: "ICMPping", nb_packets: 10, hostname: "198.18.5.1", destination: "198.18.5.1" },
      { type: "ICMPping", nb_packets: 10, hostname: "fd18--5-3", destination: "fd18::5:3" },
    ]);
    const config = await loadConfig(join(root, "netprobify.yaml"));
    const v = validateEntries("mesh", list, config, new Date());
    assert.deepEqual(v.invalid, []);
    assert.deepEqual(
      v.targets.map((t) => [t.name, t.destination_text, t.groups]),
      [
        ["mesh_198.18.5.1", "198.18.5.1", ["mesh"]],
        ["mesh_fd18--5-3", "fd18::5:3", ["mesh"]],
      ],
    );
  });
});
