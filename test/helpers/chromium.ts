/**
 * The real chromium the browser tests drive (playwright-core, the Debian package's binary), with
 * its background work off: no sandbox (containers), no GPU, no network of its own (updates,
 * sync, QUIC), so a test's traffic is the page's traffic.
 */

import { chromium, type Browser } from 'playwright-core';

/** Where the Debian package chromium installs its binary. */
export const CHROMIUM_BIN = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_BIN,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}
