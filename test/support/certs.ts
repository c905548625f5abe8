// Certificates for the TLS tests, made by openssl at test time (nothing secret is committed): a CA,
// a server certificate for 127.0.0.1 and localhost signed by it, a client certificate signed by it
// (with DNS, IP and URI subject alternative names), and a self-signed client certificate no CA
// vouches for. EC P-256 keys: fast to make.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  rogueCert: string;
  rogueKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

function key(dir: string, name: string): string {
  openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name]);
  return join(dir, name);
}

/** Makes the set in a fresh directory under the system's temporary folder (the caller removes it). */
export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "npf-certs-"));
  const days = ["-days", "2"];
  key(dir, "ca.key");
  openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=netprobify test CA",
    ...days,
    "-out",
    "ca.pem",
  ]);
  const signed = (name: string, subject: string, ext: string) => {
    key(dir, `${name}.key`);
    openssl(dir, ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`]);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      ...days,
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    ]);
  };
  signed(
    "server",
    "/CN=localhost",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  signed(
    "client",
    "/CN=prometheus",
    "subjectAltName=DNS:prometheus.lab,IP:198.18.0.9,URI:spiffe://lab/prometheus\nextendedKeyUsage=clientAuth\n",
  );
  key(dir, "rogue.key");
  openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    "rogue.key",
    "-subj",
    "/CN=rogue",
    ...days,
    "-out",
    "rogue.pem",
  ]);
  return {
    dir,
    caCert: join(dir, "ca.pem"),
    serverCert: join(dir, "server.pem"),
    serverKey: join(dir, "server.key"),
    clientCert: join(dir, "client.pem"),
    clientKey: join(dir, "client.key"),
    rogueCert: join(dir, "rogue.pem"),
    rogueKey: join(dir, "rogue.key"),
  };
}
