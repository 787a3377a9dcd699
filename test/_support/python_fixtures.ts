/**
 * The traffic captured from real CPython BaseManager clients and servers
 * (test/_support/python/capture.py, one file per interpreter under
 * test/_fixtures/python/): every frame of every connection, in order.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT } from "./process.ts";

export interface CapturedFrame {
  from: "client" | "server";
  body: Uint8Array;
}

export interface Capture {
  /** The file's name, e.g. "capture-3.12.json". */
  file: string;
  python: string;
  pickleProtocol: number;
  authkey: string;
  /** repr() of each value the client put, in order. */
  values: string[];
  connections: CapturedFrame[][];
}

/** The interpreters captured. */
export const CAPTURED = ["3.6", "3.7", "3.8", "3.11", "3.12", "3.13"] as const;

export function loadCapture(version: string): Capture {
  const file = `capture-${version}.json`;
  const doc = JSON.parse(
    readFileSync(path.join(ROOT, "test", "_fixtures", "python", file), "utf8"),
  ) as Omit<Capture, "connections" | "file"> & {
    connections: { from: "client" | "server"; hex: string }[][];
  };
  return {
    ...doc,
    file,
    connections: doc.connections.map((frames) =>
      frames.map((f) => ({ from: f.from, body: fromHex(f.hex) }))
    ),
  };
}

export function fromHex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The method-call connection (the one that sent accept_connection). */
export function methodConnection(capture: Capture): CapturedFrame[] {
  const found = capture.connections.find((c) => c.length > 8);
  if (!found) throw new Error(`${capture.file}: no method-call connection`);
  return found;
}
