import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium unless CHROMIUM_PATH says otherwise (CI installs it when missing). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A headless chromium for the browser suites: no sandbox (CI runs as root), no GPU, no background traffic. */
export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Numbered full-page screenshots of a page under `test/artifacts/<folder>/`. */
export async function screenshots(folder: string, page: () => Page): Promise<(name: string) => Promise<void>> {
  const dir = path.resolve('test/artifacts', folder);
  await mkdir(dir, { recursive: true });
  let shot = 0;
  return async (name) => {
    shot += 1;
    await page().screenshot({ path: path.join(dir, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  };
}
