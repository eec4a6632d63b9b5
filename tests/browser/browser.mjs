// browser.mjs: helpers for the browser tests: Debian's chromium driven by playwright-core (from
// web/node_modules, pinned by web/package-lock.json; it never downloads a browser), a fresh profile
// per launch, 127.0.0.1 only, and screenshots under the build folder.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOURCE = process.env.DS_SOURCE_DIR;
export const BINARY = process.env.DS_BINARY_DIR;
if (!SOURCE || !BINARY) throw new Error('DS_SOURCE_DIR and DS_BINARY_DIR must be set (ctest sets them)');
export const CHROMIUM = process.env.DS_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = join(BINARY, 'screenshots');

const WEB = join(SOURCE, 'web');

// playwright-core from web/node_modules; `npm ci` first when it is missing (offline from npm's
// cache when the cache has it).
function playwright() {
  if (!existsSync(join(WEB, 'node_modules', 'playwright-core', 'package.json'))) {
    execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: WEB,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return createRequire(join(WEB, 'package.json'))('playwright-core');
}

export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

// A browser with a fresh --user-data-dir (a persistent context is how playwright takes one).
export async function launch() {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (deploy/install-deps.sh does)`);
  const { chromium } = playwright();
  const profile = mkdtempSync(join(tmpdir(), 'dumpscope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1366, height: 768 }, // a laptop screen
  });
  const errors = [];
  return {
    context,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Every page records script errors (a broken module would otherwise show as a blank page).
export async function newPage(b) {
  const page = await b.context.newPage();
  page.on('pageerror', (e) => b.errors.push(e.message));
  return page;
}

// Waits until the view for the page's current URL is on screen.
export async function settled(page, timeout = 30000) {
  await page.waitForFunction(() => {
    const m = document.querySelector('main');
    return m && m.dataset.url === location.hash && m.getAttribute('aria-busy') !== 'true';
  }, null, { timeout });
}

export async function go(page, base, hash) {
  await page.goto(`${base}/#${hash}`);
  await settled(page);
}

export async function signIn(page, token) {
  await page.locator('#token').fill(token);
  await page.locator('form.signin button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('main')?.dataset.view !== 'signin' || !!document.querySelector('.signin .alert'));
  await settled(page);
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

export const fmt = (n) => Number(n).toLocaleString('en-US');
