/**
 * Which taskwire queue each name a Python script registers is: the seed's
 * `pq`/`cq` by default, any mapping allowed (`--python-queues`).
 */
import { checkQueueName } from "../queue/options.ts";
import { ArgumentError } from "../protocol/errors.ts";

/** The seed's registered names: `pq` is `tasks`, `cq` is `results`. */
export const DEFAULT_PYTHON_QUEUES: Readonly<Record<string, string>> = Object.freeze({
  pq: "tasks",
  cq: "results",
});

/**
 * Parses `pq=tasks,cq=results`: registered names (Python identifiers) to
 * taskwire queue names. Throws a TypeError naming the bad part.
 *
 * @example
 * ```ts
 * parsePythonQueues("pq=tasks,cq=results"); // { pq: "tasks", cq: "results" }
 * ```
 */
export function parsePythonQueues(text: string): Record<string, string> {
  const queues: Record<string, string> = {};
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (parts.length === 0) {
    throw new ArgumentError("Invalid Python queues: give at least one NAME=QUEUE");
  }
  for (const part of parts) {
    const match = /^([^=]*)=(.*)$/.exec(part);
    if (!match) throw new ArgumentError(`Invalid Python queue "${part}": expected NAME=QUEUE`);
    const [, name, queue] = match;
    checkPythonQueues({ [name]: queue });
    if (Object.hasOwn(queues, name)) {
      throw new ArgumentError(`Invalid Python queues: "${name}" is given twice`);
    }
    queues[name] = queue;
  }
  return queues;
}

/** Throws an ArgumentError unless each name is a Python identifier and each queue a valid queue name. */
export function checkPythonQueues(queues: Record<string, string>): void {
  for (const [name, queue] of Object.entries(queues)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,99}$/.test(name) || name === "__proto__") {
      throw new ArgumentError(
        `Invalid Python name "${name}": a registered name is a Python identifier (like pq)`,
      );
    }
    try {
      checkQueueName(queue);
    } catch (error) {
      throw new ArgumentError(
        `Invalid queue for Python name "${name}": ${(error as Error).message}`,
      );
    }
  }
}
