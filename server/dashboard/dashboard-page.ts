/** Placeholder, replaced below. */
export function renderDashboardPage(): string {
  return '<!doctype html><title>standin</title>';
}
