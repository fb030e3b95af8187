/** The client's one warning before its tunnel expires. */

import { EXPIRY_WARNING_LEAD_MS, ExpiryWarning } from '../client/session/expiry-warning';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('warns once, EXPIRY_WARNING_LEAD_MS before the expiry', async () => {
  const warnings: Date[] = [];
  const warning = new ExpiryWarning((expiresAt) => warnings.push(expiresAt));
  const expiresAt = new Date(Date.now() + EXPIRY_WARNING_LEAD_MS + 300);
  warning.arm(expiresAt.toISOString());
  await sleep(100);
  expect(warnings).toEqual([]);
  await sleep(800);
  expect(warnings).toEqual([expiresAt]);
  await sleep(300);
  expect(warnings).toHaveLength(1);
});

test('warns at once when less than the lead is left, and a new registration replaces the old warning', async () => {
  const warnings: Date[] = [];
  const warning = new ExpiryWarning((expiresAt) => warnings.push(expiresAt));
  warning.arm(new Date(Date.now() + EXPIRY_WARNING_LEAD_MS + 200).toISOString());
  const renewed = new Date(Date.now() + 60_000);
  warning.arm(renewed.toISOString());
  await sleep(500);
  expect(warnings).toEqual([renewed]);
  warning.cancel();
});
