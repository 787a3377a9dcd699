/**
 * A throwaway CA and a server certificate for 127.0.0.1 / localhost, made
 * with the `openssl` command at run time (no certificate is committed). Tests
 * skip with a visible notice when `openssl` is missing.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** Paths of the files made, and the directory to remove afterwards. */
export interface TestCerts {
  dir: string;
  caCert: string;
  cert: string;
  key: string;
  /** A second CA that did not sign the server's certificate. */
  otherCa: string;
}

/** Whether `openssl` can be run. */
export function haveOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Makes a CA, a server certificate signed by it, and an unrelated CA in a fresh temp dir. */
export function makeCerts(): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskwire-tls-"));
  const f = (name: string) => path.join(dir, name);
  const run = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe", cwd: dir });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "1",
    "-subj",
    "/CN=taskwire test CA",
  ]);
  run([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    f("other.key"),
    "-out",
    f("other.pem"),
    "-days",
    "1",
    "-subj",
    "/CN=other CA",
  ]);
  run([
    "req",
    ...ec,
    "-keyout",
    f("server.key"),
    "-out",
    f("server.csr"),
    "-subj",
    "/CN=localhost",
  ]);
  fs.writeFileSync(
    f("ext.cnf"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  run([
    "x509",
    "-req",
    "-in",
    f("server.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-out",
    f("server.pem"),
    "-days",
    "1",
    "-extfile",
    f("ext.cnf"),
  ]);
  return {
    dir,
    caCert: f("ca.pem"),
    cert: f("server.pem"),
    key: f("server.key"),
    otherCa: f("other.pem"),
  };
}
