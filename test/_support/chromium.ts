/**
 * The headless Chromium the browser tests drive (Debian's `chromium`, which
 * `.ci/run` installs), and the flags that keep it quiet and offline.
 */
export const CHROMIUM = "/usr/bin/chromium";

export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
