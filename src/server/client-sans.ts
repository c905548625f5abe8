// tls_server_config.client_allowed_sans: a client certificate is accepted only if one of its
// subject alternative names (DNS name, IP address, e-mail, URI) is exactly one of the list, as in
// exporter-toolkit. Node gives the names as one string ("DNS:a, IP Address:FD18:0:0:0:0:0:0:1,
// URI:spiffe://..."; a value holding a comma or quote is JSON-quoted); IP addresses are compared as
// addresses, so `fd18::1` in the file matches however the certificate spells it.
import ipaddr from "ipaddr.js";

const ENTRY = /(DNS|IP Address|email|URI|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;

/** The names of a certificate's subjectAltName field, as [kind, value]. */
export function parseSubjectAltName(text: string | undefined): [string, string][] {
  const out: [string, string][] = [];
  if (!text) return out;
  for (const m of text.matchAll(ENTRY)) {
    const raw = m[2]!;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        continue;
      }
    }
    out.push([m[1]!, value]);
  }
  return out;
}

function normalIp(s: string): string | undefined {
  return ipaddr.isValid(s) ? ipaddr.process(s).toString() : undefined;
}

/** Whether a certificate whose subjectAltName is `text` carries one of `allowed`. */
export function sanAllowed(text: string | undefined, allowed: readonly string[]): boolean {
  const names = parseSubjectAltName(text);
  return allowed.some((want) => {
    const ip = normalIp(want);
    return names.some(([kind, value]) =>
      kind === "IP Address" ? ip !== undefined && normalIp(value) === ip : value === want,
    );
  });
}
