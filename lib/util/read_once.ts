/**
 * An iterable that can be gone through once. For captures that free what
 * they hold as they go (a snapshot's jobs and put ids): a second pass would
 * read freed memory, so it is refused, naming `what` was captured.
 */
export function readOnce<T>(what: string, items: () => Iterator<T>): Iterable<T> {
  let read = false;
  return {
    [Symbol.iterator]() {
      if (read) {
        throw new Error(`A capture of ${what} is read once; take a new one to read them again`);
      }
      read = true;
      return items();
    },
  };
}
