/**
 * The real chromium the browser tests drive (playwright-core, the Debian package's binary), with
 * its background work off: no sandbox (containers), no GPU, no network of its own (updates,
 * sync, QUIC), so a test's traffic is the page's traffic.
 */

import { chromium, type Browser } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
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
